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
    BatchMaker,
    TrainConfig,
    collate,
    learning_rate,
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
