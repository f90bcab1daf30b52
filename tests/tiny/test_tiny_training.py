"""The tiny model's training recipe: data it draws, a few real steps on CPU, resume, export."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from skillgap.backends._transformers import TransformersBackend  # noqa: E402
from skillgap.tasks import composition  # noqa: E402
from skillgap.tiny._training import (  # noqa: E402
    COT_KNOBS,
    COT_KNOBS_V4,
    COT_KNOBS_V5,
    EASY_KNOBS,
    BatchMaker,
    TrainConfig,
    _accumulate,
    _shared_prompt,
    collate,
    learning_rate,
    recipe,
    train_recipe,
    train_seed,
    train_tiny,
)


@pytest.fixture(scope="module")
def processor(tiny_model_path: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_path, local_files_only=True)


def test_training_prompts_are_exactly_what_eval_sends(processor, tiny_model_path: Path) -> None:
    backend = TransformersBackend(str(tiny_model_path), device="cpu")
    backend.load()
    maker = BatchMaker(TrainConfig(batch_size=64, direct_share=0.2, cot_share=0.2), processor)
    seen = set()
    for example in maker.batch(3):
        comp = composition(example.task)
        skill = {"visual": comp.visual, "textual": comp.textual, "direct": comp.direct_skill(),
                 "cot": comp.cot_skill()}[example.kind]
        if example.kind == "textual":
            # The textual prompt carries the intermediate; recover it from the prompt's last line.
            intermediate = example.prompt.rsplit(": ", 1)[1].rstrip(">")
            values = {comp.bind: intermediate}
        else:
            values = {"image": example.image}
        if "query" in skill.inputs:
            query = next(q for q in ("red", "green", "blue", "yellow", "circle", "square", "triangle")
                         if f" {q} " in example.prompt)
            values["query"] = query
        assert example.prompt == backend._render(skill.request(values))
        # Every target is something the eval's constraint accepts and its parser reads back.
        assert skill.constraint().pattern is not None
        import re

        assert re.fullmatch(skill.constraint().pattern, example.target), (example.kind, example.target)
        seen.add(example.kind)
    assert seen == {"visual", "textual", "direct", "cot"}


def test_shares_and_direct_tasks_knobs(processor) -> None:
    config = TrainConfig(batch_size=200, direct_share=0.25, direct_tasks=["counting"], textual_share=0.5)
    maker = BatchMaker(config, processor)
    examples = maker.batch(0) + maker.batch(1)
    kinds = Counter(example.kind for example in examples)
    assert 60 <= kinds["direct"] <= 140  # 25 % of 400, loosely
    assert kinds["cot"] == 0
    assert {example.task for example in examples if example.kind == "direct"} == {"counting"}
    none = BatchMaker(TrainConfig(batch_size=100), processor).batch(0)
    assert not [example for example in none if example.kind in ("direct", "cot")]


def test_batches_are_deterministic_and_training_seeds_never_eval_seeds(processor) -> None:
    a = BatchMaker(TrainConfig(batch_size=8), processor).batch(5)
    b = BatchMaker(TrainConfig(batch_size=8), processor).batch(5)
    assert [(x.kind, x.prompt, x.target) for x in a] == [(x.kind, x.prompt, x.target) for x in b]
    assert all(train_seed(seed, step) < 0 for seed in (0, 3) for step in (0, 10**6))


def test_collate_labels_cover_target_and_eos_only(processor) -> None:
    examples = BatchMaker(TrainConfig(batch_size=6), processor).batch(0)
    batch = collate(examples, processor)
    tokenizer = processor.tokenizer
    for row, example in enumerate(examples):
        labelled = batch["input_ids"][row][batch["labels"][row] != -100]
        assert tokenizer.decode(labelled) == example.target + tokenizer.eos_token


def test_collate_weighs_a_cot_answer_when_asked(processor) -> None:
    examples = BatchMaker(TrainConfig(batch_size=12, cot_share=0.5), processor).batch(0)
    assert {"cot", "textual"} <= {example.kind for example in examples}
    assert "label_weights" not in collate(examples, processor)  # weight 1: the recipes as recorded
    batch = collate(examples, processor, cot_answer_weight=4.0)
    tokenizer = processor.tokenizer
    for row, example in enumerate(examples):
        heavy = batch["input_ids"][row][batch["label_weights"][row] == 4.0]
        # Only a CoT example's answer value and </s> weigh more, never a prompt or an intermediate.
        want = example.target.rpartition("Answer: ")[2] + tokenizer.eos_token if example.kind == "cot" else ""
        assert tokenizer.decode(heavy) == want, (example.kind, example.target)
        assert bool((batch["labels"][row][batch["label_weights"][row] == 4.0] != -100).all())


def test_weighted_cot_answers_change_the_gradient_not_the_reported_losses(processor,
                                                                       tiny_model_path: Path) -> None:
    import torch
    from transformers import LlavaForConditionalGeneration

    examples = BatchMaker(TrainConfig(batch_size=6, cot_share=0.5, seed=3), processor).batch(0)
    grads, losses = [], []
    for weight in (1.0, 5.0):
        model = LlavaForConditionalGeneration.from_pretrained(tiny_model_path, dtype=torch.float32)
        losses.append(_accumulate(model, processor, examples, "cpu", cot_answer_weight=weight))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert losses[0] == pytest.approx(losses[1])  # reported per kind, unweighted
    assert not torch.allclose(grads[0], grads[1])


def test_learning_rate_schedule() -> None:
    config = TrainConfig(steps=100, lr=1e-3, warmup_steps=10, decay_fraction=0.5)
    assert learning_rate(config, 0) == pytest.approx(1e-4)
    assert learning_rate(config, 20) == pytest.approx(1e-3)
    assert learning_rate(config, 99) == pytest.approx(1e-4, rel=0.05)


def test_bad_config_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="unknown task 'poker'"):
        TrainConfig(tasks=["poker"])
    with pytest.raises(ValueError, match="at most 1"):
        TrainConfig(direct_share=0.7, cot_share=0.6)


def _weights(folder: Path) -> dict:
    state = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=False)
    return state


def test_train_resume_and_export_end_to_end(tmp_path: Path) -> None:
    config = dict(batch_size=6, warmup_steps=1, checkpoint_every=1, direct_share=0.2, cot_share=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Uninterrupted: 3 steps.
        straight = train_tiny(TrainConfig(steps=3, **config), tmp_path / "straight", threads=1,
                              progress=False)
        # Interrupted after 2 steps, then resumed to 3 from the checkpoint.
        train_tiny(TrainConfig(steps=2, **config), tmp_path / "resumed", threads=1, progress=False)
        assert _weights(tmp_path / "resumed")["step"] == 2
        resumed = train_tiny(TrainConfig(steps=3, **config), tmp_path / "resumed", threads=1,
                             progress=False)
    a = _weights(tmp_path / "straight")
    b = _weights(tmp_path / "resumed")
    assert a["step"] == b["step"] == 3
    for name, tensor in a["model"].items():
        torch.testing.assert_close(tensor, b["model"][name], rtol=1e-5, atol=1e-6, msg=name)
    assert straight.final_losses.keys() == resumed.final_losses.keys()

    card = json.loads((Path(resumed.model_dir) / "skillgap.json").read_text())
    assert card["layout"] == "grid" and card["trained"] is True
    assert card["training"]["config"]["direct_share"] == 0.2
    assert card["training"]["steps"] == 3

    # The exported folder is an ordinary model: the eval backend loads it offline and answers.
    import asyncio

    from skillgap.tasks._generators import generate

    sample = generate("counting", 1, seed=7)[0]
    backend = TransformersBackend(resumed.model_dir, device="cpu")
    request = composition("counting").visual.request({"image": sample.image})
    (generation,) = asyncio.run(backend.generate([request]))
    assert generation.error is None and generation.text


def test_a_different_config_does_not_resume_silently(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_tiny(TrainConfig(steps=1, batch_size=2, warmup_steps=0), tmp_path, threads=1,
                   progress=False)
        with pytest.raises(ValueError, match="different training config"):
            train_tiny(TrainConfig(steps=2, batch_size=4, warmup_steps=0), tmp_path, threads=1,
                       progress=False)


def test_kind_knobs_draw_direct_and_cot_from_the_easy_range_only(processor) -> None:
    config = TrainConfig(batch_size=300, direct_share=0.4, cot_share=0.2, textual_share=0.5,
                         knobs={"direct": EASY_KNOBS, "cot": EASY_KNOBS})
    examples = BatchMaker(config, processor).batch(0)

    def size(example) -> int:  # operands, objects or cards in the example's intermediate
        text = example.prompt.rsplit(": ", 1)[1].rstrip(">") if example.kind == "textual" else (
            example.target.split("\n")[0] if example.kind in ("visual", "cot") else None)
        if text is None:
            return -1
        return len(text.replace("+", " ").replace("-", " ").split())

    by_kind: dict[tuple[str, str], set[int]] = {}
    for example in examples:
        by_kind.setdefault((example.kind, example.task), set()).add(size(example))
    assert by_kind["cot", "rendered_text"] == {2}
    assert max(by_kind["cot", "counting"]) <= 4 and max(by_kind["cot", "cards"]) == 2
    assert max(by_kind["visual", "counting"]) > 4 and 3 in by_kind["textual", "rendered_text"]
    # Direct targets come from the easy range too: two single-digit operands give at most 18.
    direct = [int(e.target) for e in examples if (e.kind, e.task) == ("direct", "rendered_text")]
    assert direct and max(direct) <= 18


def test_task_weights_and_knob_validation(processor) -> None:
    config = TrainConfig(batch_size=400, textual_share=1.0,
                         task_weights={"textual": {"counting": 8, "cards": 0}})
    tasks = Counter(example.task for example in BatchMaker(config, processor).batch(0))
    assert tasks["cards"] == 0 and tasks["counting"] > 5 * tasks["rendered_text"]
    with pytest.raises(ValueError, match="n_objects"):
        TrainConfig(knobs={"direct": {"counting": {"n_objects": [0, 40]}}})
    with pytest.raises(ValueError, match="unknown example kind"):
        TrainConfig(knobs={"composed": {"counting": {}}})
    with pytest.raises(ValueError, match="weight 0"):
        TrainConfig(task_weights={"textual": {"counting": 0, "cards": 0, "rendered_text": 0}})


def test_shared_prefix_gives_the_same_losses_and_gradients(processor, tiny_model_path: Path) -> None:
    from transformers import LlavaForConditionalGeneration

    import skillgap.tiny._training as training

    model = LlavaForConditionalGeneration.from_pretrained(tiny_model_path, dtype=torch.float32)
    examples = BatchMaker(TrainConfig(batch_size=24, direct_share=0.2, cot_share=0.2), processor).batch(1)
    assert _shared_prompt(examples[0].prompt)  # every prompt shares an instruction

    def run(monkey: bool):
        model.zero_grad()
        original = training._shared_length
        if monkey:
            training._shared_length = lambda *args: 0
        try:
            losses = _accumulate(model, processor, examples, "cpu")
        finally:
            training._shared_length = original
        return losses, torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    shared, grad_shared = run(False)
    plain, grad_plain = run(True)
    assert shared.keys() == plain.keys()
    for kind in plain:
        assert shared[kind] == pytest.approx(plain[kind], rel=1e-4)
    assert float((grad_shared - grad_plain).norm() / grad_plain.norm()) < 1e-4


def test_recipe_first_steps_match_the_recorded_losses(tmp_path: Path) -> None:
    """The default recipe's first phase, from scratch: its first steps reproduce the record."""
    first = recipe("default")[0]
    assert first.first_losses, "the recipe records its first steps' losses"
    seen: list[dict[str, float]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_tiny(first.config, tmp_path, device="cpu", threads=1, progress=False,
                   stop_after=len(first.first_losses), export=False,
                   on_step=lambda step, losses: seen.append(dict(losses)))
    assert len(seen) == len(first.first_losses)
    for got, want in zip(seen, first.first_losses, strict=True):
        assert got.keys() == want.keys()
        for kind in want:
            assert got[kind] == pytest.approx(want[kind], abs=2e-4), (kind, got, want)


def test_recipes_are_recorded_and_reproducible_by_name() -> None:
    default = recipe("default")
    assert [phase.name for phase in default] == [f"phase{i}" for i in range(1, 9)]
    assert [phase.name for phase in recipe("v4")] == [f"phase{i}" for i in range(1, 7)]
    assert [phase.name for phase in recipe("v3")] == ["phase1", "phase2", "phase3", "phase4", "phase5"]
    assert [phase.name for phase in recipe("v2")] == ["phase1", "phase2", "phase3", "phase4"]
    assert [phase.name for phase in recipe("v1")] == ["phase1", "phase2", "phase3"]
    assert not default[0].from_previous and default[0].config.init_from is None
    last = default[-1].config
    # Direct examples from the easy part of each range; CoT reaches further into each range.
    assert last.knobs["direct"] == EASY_KNOBS
    assert last.knobs["cot"] == COT_KNOBS_V5
    assert all(COT_KNOBS_V5[task] != EASY_KNOBS[task] for task in EASY_KNOBS)
    assert recipe("v4")[-1].config.knobs["cot"] == COT_KNOBS_V4
    # The last phase weighs CoT answers more; every earlier one trained at weight 1.
    assert last.cot_answer_weight > 1
    assert all(phase.config.cot_answer_weight == 1 for phase in default[:-1])
    assert recipe("v3")[-1].config.knobs["cot"] == COT_KNOBS
    # Each phase draws its own training data: no two continuing phases share a seed.
    assert default[-1].config.seed != default[-2].config.seed
    assert all(seed_phase.config.seed >= 0 for seed_phase in default)
    # The shipped model's card records the recipe's phases and its own knobs.
    from skillgap.tiny import SHIPPED_MODEL_DIR

    card = json.loads((SHIPPED_MODEL_DIR / "skillgap.json").read_text())
    lineage = card["training"]["lineage"]
    assert [entry["command"] for entry in lineage] == [phase.command for phase in default]
    assert card["training"]["config"]["knobs"] == json.loads(json.dumps(last.model_dump()["knobs"]))
    with pytest.raises(ValueError, match="unknown recipe"):
        recipe("v9")


def test_train_recipe_runs_selected_phases_with_lineage(tmp_path: Path, tiny_model_path: Path,
                                                        monkeypatch) -> None:
    import skillgap.tiny._training as training

    small = [
        training.Phase(name="a", from_previous=False, command="a", config=TrainConfig(
            steps=2, batch_size=4, warmup_steps=0, checkpoint_every=1)),
        training.Phase(name="b", command="b", config=TrainConfig(
            steps=1, batch_size=4, warmup_steps=0, direct_share=0.5, knobs={"direct": EASY_KNOBS})),
    ]
    monkeypatch.setitem(training.RECIPES, "small", lambda: small)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_recipe("small", tmp_path, threads=1, progress=False)
        only_b = train_recipe("small", tmp_path / "again", phases=["b"], init_from=str(tiny_model_path),
                              threads=1, progress=False)
    assert (tmp_path / "a" / "checkpoint.pt").is_file() and not (tmp_path / "a" / "model").exists()
    card = json.loads((Path(result.model_dir) / "skillgap.json").read_text())
    assert [entry["command"] for entry in card["training"]["lineage"]] == ["a", "b"]
    assert card["training"]["lineage"][1]["init_from"].endswith("checkpoint.pt")
    assert card["training"]["total_steps"] == 3
    again = json.loads((Path(only_b.model_dir) / "skillgap.json").read_text())["training"]
    assert again["config"]["init_from"] == str(tiny_model_path.resolve())
    assert len(again["lineage"]) == 2
    with pytest.raises(ValueError, match="unknown phase"):
        train_recipe("small", tmp_path / "x", phases=["zz"])
