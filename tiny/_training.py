"""The embedded tiny model's training recipe: the eval generators' skills, trained from scratch.

Each optimiser step draws a fresh batch from the same procedural generators the evals use (grid
layout), in the same prompt formats the skills send at eval time, so a trained model answers
exactly the requests ``skillgap eval`` makes. Examples are of four kinds:

- ``visual``: the visual skill (image → intermediate, e.g. ``3+4-2``);
- ``textual``: the textual skill on the gold intermediate (text only: cheap, and the long pole);
- ``direct``: the composed question answered in one call (its share is the knob under study);
- ``cot``: the chain-of-thought format (intermediate line, then ``Answer: …``).

Training seeds are negative (``-1 - seed * 10**7 - step``), evaluation seeds are not, so a model
is never evaluated on a sample drawn for its training. The loss covers the answer tokens only.
Checkpoints (weights, optimiser, step) are written atomically; rerunning resumes.
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import random
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from ..tasks import builtin_task_names
from ._model import MODEL_CARD, build_tiny_model

KINDS = ("visual", "textual", "direct", "cot")
#: The reference tasks, from the task registry (the tiny model's vocabulary covers these only).
TASKS = tuple(builtin_task_names())
CHECKPOINT = "checkpoint.pt"
#: Per-kind mean losses of phase 1's first steps (CPU, 1 thread, seed 0; see the recipe test).
FIRST_LOSSES_PHASE1: list[dict[str, float]] = [
    {"textual": 4.8406, "visual": 4.80007},
    {"textual": 4.83418, "visual": 4.79431},
]
LOG = "train_log.jsonl"


class TrainConfig(BaseModel):
    """Everything that decides a training run; saved in the checkpoint and the model card."""

    steps: int = Field(default=3000, ge=1)
    batch_size: int = Field(default=96, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    #: The vision tower and projector learn this many times faster (they start from noise).
    vision_lr_scale: float = Field(default=2.0, gt=0)
    warmup_steps: int = Field(default=100, ge=0)
    #: Linear decay to 10 % of ``lr`` over this final fraction of the steps (flat before).
    decay_fraction: float = Field(default=0.2, ge=0, le=1)
    #: Steps at the start that train the visual skills only.
    visual_warmup_steps: int = Field(default=0, ge=0)
    tasks: list[str] = Field(default_factory=lambda: list(TASKS))
    #: Share of examples in the direct (composed) format, drawn from ``direct_tasks``.
    direct_share: float = Field(default=0.0, ge=0, le=1)
    direct_tasks: list[str] | None = None
    #: Share of examples in the chain-of-thought format.
    cot_share: float = Field(default=0.0, ge=0, le=1)
    #: Of the remaining (skill) examples, the share that are textual.
    textual_share: float = Field(default=0.5, ge=0, le=1)
    seed: int = Field(default=0, ge=0)
    #: Start from these weights (a model folder or a checkpoint) instead of a random init.
    init_from: str | None = None
    checkpoint_every: int = Field(default=200, ge=1)
    weight_dtype: str = "float16"
    #: Generator knob overrides per example kind and task (grid layout), e.g.
    #: ``{"direct": {"rendered_text": {"n_operands": 2}}}``: direct-format examples then come from the
    #: easy part of the difficulty range only, while evaluation still draws from the whole range.
    knobs: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    #: Relative weight of each task per example kind, e.g. ``{"textual": {"counting": 2}}``; tasks
    #: not named weigh 1; kinds not named draw tasks uniformly.
    task_weights: dict[str, dict[str, float]] = Field(default_factory=dict)
    #: Loss weight of a CoT example's final answer (its value and ``</s>``); the intermediate and the
    #: ``Answer:`` prefix weigh 1. The answer is a few tokens after a long, easy transcript, so at
    #: weight 1 its errors barely move the mean loss (v4's CoT copied the intermediate right and
    #: then miscounted it).
    cot_answer_weight: float = Field(default=1.0, gt=0)

    @field_validator("knobs")
    @classmethod
    def _known_knobs(
        cls, value: dict[str, dict[str, dict[str, Any]]]
    ) -> dict[str, dict[str, dict[str, Any]]]:
        from ..tasks import get_generator

        for kind, per_task in value.items():
            if kind not in KINDS:
                raise ValueError(f"unknown example kind {kind!r}; choose from: {', '.join(KINDS)}")
            for task, knobs in per_task.items():
                if task not in TASKS:
                    raise ValueError(f"unknown task {task!r}; choose from: {', '.join(TASKS)}")
                get_generator(task).resolve_knobs("grid", dict(knobs))  # raises ValueError naming the knob
        return value

    @field_validator("task_weights")
    @classmethod
    def _known_weights(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for kind, weights in value.items():
            if kind not in KINDS:
                raise ValueError(f"unknown example kind {kind!r}; choose from: {', '.join(KINDS)}")
            for task, weight in weights.items():
                if task not in TASKS:
                    raise ValueError(f"unknown task {task!r}; choose from: {', '.join(TASKS)}")
                if not weight >= 0:
                    raise ValueError(f"task weight for {kind}/{task} must be >= 0, got {weight!r}")
        return value

    @field_validator("tasks", "direct_tasks")
    @classmethod
    def _known_tasks(cls, value: list[str] | None) -> list[str] | None:
        for task in value or []:
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}; choose from: {', '.join(TASKS)}")
        return value

    @model_validator(mode="after")
    def _shares(self) -> TrainConfig:
        if self.direct_share + self.cot_share > 1:
            raise ValueError("direct_share + cot_share must be at most 1")
        for kind, weights in self.task_weights.items():
            pool = self.resolved_direct_tasks() if kind == "direct" else self.tasks
            if pool and not any(weights.get(task, 1.0) > 0 for task in pool):
                raise ValueError(f"task_weights for {kind!r} give every task weight 0")
        return self

    def resolved_direct_tasks(self) -> list[str]:
        return list(self.direct_tasks) if self.direct_tasks is not None else list(self.tasks)


class TrainResult(BaseModel):
    model_dir: str
    steps: int
    wall_time_s: float
    final_losses: dict[str, float]


def train_seed(seed: int, step: int) -> int:
    """The generator seed of one training step: negative, so never an evaluation seed."""
    return -1 - seed * 10**7 - step


class _Example(BaseModel):
    kind: str
    task: str
    prompt: str  # rendered chat text, ending with the generation prompt
    target: str
    image: Any = None  # a PIL image for visual, direct and cot examples


class BatchMaker:
    """Draws the examples of one step; a pure function of (config, step)."""

    def __init__(self, config: TrainConfig, processor: Any) -> None:
        from ..tasks import composition, get_generator

        self.config = config
        self.processor = processor
        self.generators = {task: get_generator(task) for task in TASKS}
        self.knobs = {task: self.generators[task].resolve_knobs("grid", {}) for task in TASKS}
        #: (kind, task) -> resolved knobs, where the config overrides them for that kind.
        self.kind_knobs = {
            (kind, task): self.generators[task].resolve_knobs("grid", dict(knobs))
            for kind, per_task in config.knobs.items()
            for task, knobs in per_task.items()
        }
        self.compositions = {task: composition(task) for task in TASKS}
        # Derived skills are built once here, not once per example.
        self.skills = {
            (kind, task): skill
            for task, comp in self.compositions.items()
            for kind, skill in (("visual", comp.visual), ("textual", comp.textual),
                                ("direct", comp.direct_skill()), ("cot", comp.cot_skill()))
        }
        self._prompts: dict[tuple[str, str, str], str] = {}

    def kind_for(self, rng: random.Random, step: int) -> str:
        if step < self.config.visual_warmup_steps:
            return "visual"
        draw = rng.random()
        if draw < self.config.direct_share:
            return "direct"
        if draw < self.config.direct_share + self.config.cot_share:
            return "cot"
        return "textual" if rng.random() < self.config.textual_share else "visual"

    def batch(self, step: int) -> list[_Example]:
        from ..tasks._generators import sample_rng

        rng = random.Random(f"skillgap-train/{self.config.seed}/{step}")
        seed = train_seed(self.config.seed, step)
        examples = []
        for index in range(self.config.batch_size):
            kind = self.kind_for(rng, step)
            tasks = self.config.resolved_direct_tasks() if kind == "direct" else self.config.tasks
            weights = self.config.task_weights.get(kind)
            if weights:
                task = rng.choices(tasks, weights=[weights.get(t, 1.0) for t in tasks])[0]
            else:  # the draw of the recipes that had no weights, kept so they reproduce
                task = rng.choice(tasks)
            knobs = self.kind_knobs.get((kind, task), self.knobs[task])
            drawn = self.generators[task].draw(sample_rng(task, "grid", seed, index), "grid", knobs)
            examples.append(self._example(kind, task, drawn))
        return examples

    def _example(self, kind: str, task: str, drawn: Any) -> _Example:
        comp = self.compositions[task]
        skill = self.skills[kind, task]
        inputs = dict(drawn.inputs)
        if kind == "textual":
            values = {comp.bind: drawn.intermediate, **inputs}
            target = drawn.answer
        else:
            values = {"image": _placeholder_image(), **inputs}
            target = {
                "visual": drawn.intermediate,
                "direct": drawn.answer,
                "cot": f"{drawn.intermediate}\n{_answer_line()}{drawn.answer}",
            }[kind]
        key = (kind, task, json.dumps(values if kind == "textual" else inputs, sort_keys=True))
        prompt = self._prompts.get(key)
        if prompt is None:
            from ..backends._transformers import chat_messages

            request = skill.request(values)
            prompt = str(
                self.processor.apply_chat_template(
                    chat_messages(request), add_generation_prompt=True, tokenize=False
                )
            )
            if kind != "textual":  # textual prompts are too many to keep
                self._prompts[key] = prompt
        image = None if kind == "textual" else drawn.image
        return _Example(kind=kind, task=task, prompt=prompt, target=target, image=image)


def _answer_line() -> str:
    from ..graphs._composition import ANSWER_LINE

    return ANSWER_LINE


_placeholder: Any = None


def _placeholder_image() -> Any:
    """Prompt text never depends on the image; any valid image stands in while rendering it."""
    global _placeholder
    if _placeholder is None:
        from PIL import Image

        from ..backends._types import ImageRef

        _placeholder = ImageRef.from_pil(Image.new("RGB", (8, 8), "white"), key="train-placeholder")
    return _placeholder


def collate(examples: list[_Example], processor: Any, *, cot_answer_weight: float = 1.0
            ) -> dict[str, Any]:
    """Tokenise prompt + target + ``</s>``; labels cover the target and ``</s>`` only.

    With ``cot_answer_weight`` other than 1, ``label_weights`` gives each label position its loss
    weight: ``cot_answer_weight`` on a CoT example's answer value and ``</s>``, 1 elsewhere.
    """
    import torch

    tokenizer = processor.tokenizer
    eos = tokenizer.eos_token
    texts = [example.prompt + example.target + eos for example in examples]
    images = [example.image for example in examples if example.image is not None]
    tokenizer.padding_side = "right"
    inputs = processor(
        text=texts, images=images or None, return_tensors="pt", padding=True, add_special_tokens=False
    )
    labels = torch.full_like(inputs["input_ids"], -100)
    lengths = inputs["attention_mask"].sum(dim=1).tolist()
    for row, example in enumerate(examples):
        # Character tokenizer: the target is len(target) tokens, then one </s>.
        answer_tokens = len(tokenizer(example.target, add_special_tokens=False)["input_ids"]) + 1
        end = int(lengths[row])
        labels[row, end - answer_tokens : end] = inputs["input_ids"][row, end - answer_tokens : end]
    inputs["labels"] = labels
    if cot_answer_weight != 1.0:
        weights = torch.ones_like(labels, dtype=torch.float32)
        for row, example in enumerate(examples):
            if example.kind == "cot":
                line = example.target.rfind(_answer_line())
                value = len(example.target) - line - len(_answer_line())
                end = int(lengths[row])
                weights[row, end - value - 1 : end] = cot_answer_weight
        inputs["label_weights"] = weights
    return dict(inputs)


def learning_rate(config: TrainConfig, step: int) -> float:
    """Warm-up, flat, then a linear decay to 10 % over the last ``decay_fraction`` of the steps."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    decay_start = config.steps * (1 - config.decay_fraction)
    if step < decay_start or config.decay_fraction == 0:
        return config.lr
    progress = (step - decay_start) / max(1.0, config.steps - 1 - decay_start)
    return config.lr * (1 - 0.9 * min(1.0, progress))


def _load_initial(config: TrainConfig, workdir: Path) -> Any:
    import torch
    from transformers import LlavaForConditionalGeneration

    if config.init_from and Path(config.init_from).is_file():
        state = torch.load(config.init_from, map_location="cpu", weights_only=False)
        folder = build_tiny_model(workdir / "init", seed=config.seed)
        model = LlavaForConditionalGeneration.from_pretrained(folder, local_files_only=True)
        model.load_state_dict(state["model"])
        return model
    folder = Path(config.init_from) if config.init_from else build_tiny_model(
        workdir / "init", seed=config.seed
    )
    return LlavaForConditionalGeneration.from_pretrained(
        folder, local_files_only=True, dtype=torch.float32
    )


def _optimizer(model: Any, config: TrainConfig) -> Any:
    import torch

    vision: list[Any] = []
    text: list[Any] = []
    for name, parameter in model.named_parameters():
        (vision if "vision_tower" in name or "multi_modal_projector" in name else text).append(parameter)
    return torch.optim.AdamW(
        [
            {"params": text, "lr_scale": 1.0},
            {"params": vision, "lr_scale": config.vision_lr_scale},
        ],
        lr=config.lr,
        betas=(0.9, 0.98),
        weight_decay=0.01,
    )


def _save_atomic(obj: Any, path: Path) -> None:
    import torch

    staging = path.with_name(path.name + ".partial")
    torch.save(obj, staging)
    os.replace(staging, path)


def train_tiny(
    config: TrainConfig,
    out: str | Path,
    *,
    device: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    stop_after: int | None = None,
    lineage: list[dict[str, Any]] | None = None,
    phase_info: dict[str, Any] | None = None,
    export: bool = True,
) -> TrainResult:
    """Train (or resume training) the tiny model into ``out``; the model lands in ``out/model``.

    Rerunning with the same ``out`` resumes from ``out/checkpoint.pt``; a different config for the
    same folder is refused (except ``steps``, which may grow to train longer). ``stop_after`` ends
    the run early (after that many steps, checkpointed) without changing the learning-rate
    schedule, which follows ``config.steps``. ``lineage`` (earlier phases) goes into the model card.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoProcessor

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    checkpoint_path = out / CHECKPOINT

    model = _load_initial(config, out)
    processor = AutoProcessor.from_pretrained(out / "init" if (out / "init").is_dir() else config.init_from)
    model.to(device)
    model.train()
    optimizer = _optimizer(model, config)
    start, elapsed = 0, 0.0
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        saved = TrainConfig.model_validate(state["config"])
        if saved.model_dump(exclude={"steps"}) != config.model_dump(exclude={"steps"}):
            raise ValueError(
                f"{checkpoint_path} was written by a different training config; "
                "use a new --out folder or the same options"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, elapsed = int(state["step"]), float(state["elapsed_s"])

    maker = BatchMaker(config, processor)
    running: dict[str, float] = {}
    began = time.perf_counter() - elapsed
    end = min(config.steps, stop_after) if stop_after is not None else config.steps
    bar = tqdm(total=end, initial=start, disable=not progress, desc="train-tiny", unit="step")
    step = start
    with (out / LOG).open("a") as log:
        for step in range(start, end):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step) * group["lr_scale"]
            examples = maker.batch(step)
            optimizer.zero_grad(set_to_none=True)
            per_kind = _accumulate(model, processor, examples, device,
                                   cot_answer_weight=config.cot_answer_weight)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            for kind, mean in per_kind.items():
                running[kind] = mean if kind not in running else 0.95 * running[kind] + 0.05 * mean
            bar.update(1)
            bar.set_postfix({kind: f"{running[kind]:.3f}" for kind in KINDS if kind in running})
            if on_step is not None:
                on_step(step, dict(running))
            done = step + 1
            if done % 20 == 0 or done == end:
                log.write(json.dumps({"step": done, "lr": learning_rate(config, step),
                                      "batch": {k: round(v, 5) for k, v in per_kind.items()},
                                      "running": {k: round(v, 5) for k, v in running.items()},
                                      "elapsed_s": round(time.perf_counter() - began, 1)}) + "\n")
                log.flush()
            if done % config.checkpoint_every == 0 or done == end:
                _save_atomic(
                    {"config": config.model_dump(), "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "step": done,
                     "elapsed_s": time.perf_counter() - began},
                    checkpoint_path,
                )
    bar.close()
    wall = time.perf_counter() - began
    if not running and start > 0:  # resumed a finished run: report the logged losses
        running = _last_logged_losses(out / LOG)
    model_dir = out / "model"
    if export:
        export_model(model, processor, model_dir, config, wall_time_s=wall, device=device,
                     losses=running, steps_done=end, lineage=lineage, phase_info=phase_info)
    return TrainResult(model_dir=str(model_dir), steps=end, wall_time_s=round(wall, 1),
                       final_losses={k: round(v, 5) for k, v in running.items()})


def _last_logged_losses(path: Path) -> dict[str, float]:
    lines = path.read_text().splitlines() if path.is_file() else []
    return dict(json.loads(lines[-1])["running"]) if lines else {}


def _accumulate(model: Any, processor: Any, examples: list[_Example], device: str, *,
                cot_answer_weight: float = 1.0) -> dict[str, float]:
    """Forward and backward one step's batch in micro-batches; return the mean loss per kind.

    Kinds differ a lot in length (a CoT prompt is three times a textual one); padding them into one
    tensor would triple the work, so each group runs alone and the gradients add up. The loss is the
    mean over every answer token of the step, as if it were one batch.

    Examples of one group share their prompt's instruction (everything before the image, or
    before the intermediate's line): that shared prefix runs once, at batch size 1, and its
    key/value cache is repeated for the group, so the instruction costs one example's compute
    instead of the group's. This is exact (same losses and gradients as running every full
    sequence, up to float rounding): autograd sums the prefix's gradients over the group.

    With ``cot_answer_weight``, the loss is the weighted mean (see :func:`collate`); the losses
    returned stay unweighted means per example, comparable across phases.
    """
    import torch

    groups: dict[tuple[str, str, str], list[_Example]] = defaultdict(list)
    for example in examples:
        groups[example.kind, example.task, _shared_prompt(example.prompt)].append(example)
    batches = {key: collate(group, processor, cot_answer_weight=cot_answer_weight)
               for key, group in groups.items()}
    total = sum(float(_weights(batch)[:, 1:][batch["labels"][:, 1:] != -100].sum())
                for batch in batches.values())
    image_token = processor.tokenizer.convert_tokens_to_ids("<image>")
    losses: dict[str, list[float]] = defaultdict(list)
    for (kind, _task, _prefix), batch in batches.items():
        batch = {key: value.to(device) for key, value in batch.items()}
        weights = _weights(batch)
        batch.pop("label_weights", None)
        labels = batch.pop("labels")
        shared = _shared_length(batch["input_ids"], labels, image_token)
        if shared > 0:
            logits, targets = _forward_with_shared_prefix(model, batch, labels, shared)
        else:
            logits, targets = model(**batch).logits[:, :-1].float(), labels[:, 1:]
        token_loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100,
            reduction="none",
        ).view(targets.shape)
        mask = (targets != -100).float()
        # Targets are the labels from some offset to the end; their weights are the same slice.
        weighted = token_loss * mask * weights[:, -targets.shape[1]:]
        (weighted.sum() / total).backward()
        per_example = (token_loss * mask).sum(1) / mask.sum(1).clamp(min=1)
        losses[kind].extend(per_example.detach().cpu().tolist())
    return {kind: sum(values) / len(values) for kind, values in losses.items()}


def _weights(batch: dict[str, Any]) -> Any:
    """The batch's per-label loss weights (all 1 unless :func:`collate` was given a weight)."""
    import torch

    weights = batch.get("label_weights")
    return weights if weights is not None else torch.ones_like(batch["labels"], dtype=torch.float32)


def _shared_prompt(prompt: str) -> str:
    """The part of a prompt that examples of one group can share: up to the image or last line."""
    cut = prompt.find("<image>")
    return prompt[: cut if cut >= 0 else prompt.rfind("\n") + 1]


def _shared_length(input_ids: Any, labels: Any, image_token: int) -> int:
    """Tokens every row starts with, ending before any image token and any label (0: none)."""
    import torch

    if input_ids.shape[0] < 2:
        return 0
    same = (input_ids == input_ids[:1]).all(dim=0)
    stop = (input_ids == image_token).any(dim=0) | (labels != -100).any(dim=0)
    same = same & ~stop
    # Leave at least two tokens per row: the last shared token's successor starts the rest.
    length = int(torch.cumprod(same.long(), dim=0).sum())
    return max(0, min(length, input_ids.shape[1] - 2) - 1)


def _forward_with_shared_prefix(model: Any, batch: dict[str, Any], labels: Any, shared: int) -> Any:
    """Run ``input_ids[:, :shared]`` once and the rest of every row on its repeated cache.

    ``shared`` stops one token short of the longest shared prefix, so the prediction of the
    first token after the cache comes from the rest's first position (no label is lost).
    """
    from transformers import DynamicCache

    input_ids, mask = batch["input_ids"], batch["attention_mask"]
    rows = input_ids.shape[0]
    cache = DynamicCache()
    # transformers renames ``past_key_values`` to ``cache`` (5.24 warns about the old name).
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    model(input_ids=input_ids[:1, :shared], attention_mask=mask[:1, :shared], use_cache=True,
          **{name: cache})
    cache.batch_repeat_interleave(rows)
    rest = {key: value for key, value in batch.items() if key not in ("input_ids", "attention_mask")}
    logits = model(input_ids=input_ids[:, shared:], attention_mask=mask, use_cache=True,
                   **{name: cache}, **rest).logits
    return logits[:, :-1].float(), labels[:, shared + 1 :]


def export_model(
    model: Any, processor: Any, folder: Path, config: TrainConfig, *, wall_time_s: float, device: str,
    losses: dict[str, float], steps_done: int | None = None,
    lineage: list[dict[str, Any]] | None = None, phase_info: dict[str, Any] | None = None,
) -> Path:
    """Save weights (``config.weight_dtype``) + processor + a card recording how they were made.

    ``lineage`` lists the earlier phases (as in the shipped card); this run is appended to it.
    """
    import copy

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    exported = copy.deepcopy(model).to("cpu").to(getattr(torch, config.weight_dtype)).eval()
    exported.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    parameters = sum(p.numel() for p in model.parameters())
    steps_done = config.steps if steps_done is None else steps_done
    this_phase = {
        "phase": len(lineage or []) + 1,
        "config": config.model_dump(),
        "steps": steps_done,
        "examples": steps_done * config.batch_size,
        "data_mix": _data_mix(config),
        "wall_time_s": round(wall_time_s, 1),
        "hardware": _hardware(device),
        "final_running_losses": {k: round(v, 5) for k, v in losses.items()},
        **(phase_info or {}),
    }
    phases = [*(lineage or []), this_phase]
    card = {
        "layout": "grid",
        "image_size": 80,
        "builder": __name__,
        "trained": True,
        "training": {
            "config": config.model_dump(),
            "steps": steps_done,
            "examples_seen": steps_done * config.batch_size,
            "data_mix": _data_mix(config),
            "wall_time_s": round(wall_time_s, 1),
            "hardware": _hardware(device),
            "final_running_losses": {k: round(v, 5) for k, v in losses.items()},
            "train_seeds": "negative generator seeds (-1 - seed*10**7 - step); evaluate on seeds >= 0",
            "lineage": phases,
            "total_steps": sum(int(phase.get("steps", 0)) for phase in phases),
            "total_wall_time_s": round(sum(float(phase.get("wall_time_s", 0)) for phase in phases), 1),
        },
        "parameters": parameters,
    }
    (folder / MODEL_CARD).write_text(json.dumps(card, indent=2))
    return folder


def _data_mix(config: TrainConfig) -> dict[str, Any]:
    skills = 1 - config.direct_share - config.cot_share
    mix: dict[str, Any] = {
        "visual": round(skills * (1 - config.textual_share), 4),
        "textual": round(skills * config.textual_share, 4),
        "direct": config.direct_share,
        "cot": config.cot_share,
    }
    if config.task_weights:
        mix["task_weights"] = config.task_weights
    if config.knobs:
        mix["knob_overrides"] = config.knobs
    return mix


def _hardware(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}; torch {torch.__version__}"
    return (f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads, no GPU; torch {torch.__version__}")


# --------------------------------------------------------------------------------------------
# Recipes: the recorded phases that made a shipped model, replayable with one command
# --------------------------------------------------------------------------------------------

class Phase(BaseModel):
    """One recorded training phase: its config, where it starts, and the CLI command it equals."""

    name: str
    config: TrainConfig
    #: Start from the previous phase's checkpoint (the first phase starts from ``config.init_from``).
    from_previous: bool = True
    #: Stop after this many steps without changing the schedule (it follows ``config.steps``).
    stop_after: int | None = Field(default=None, ge=1)
    command: str
    note: str | None = None
    #: Per-kind mean losses of the first steps of this phase (from a deterministic CPU run), so a
    #: test can check that the recipe still draws the same data and computes the same losses.
    first_losses: list[dict[str, float]] = Field(default_factory=list)

    @property
    def steps_run(self) -> int:
        return self.stop_after or self.config.steps


#: Direct-format and CoT examples come from the easy part of each task's grid range (evaluation
#: draws the whole range: 2–3 operands, 1–9 objects, 2–3 cards), the way real MLLMs compose partially.
EASY_KNOBS: dict[str, dict[str, Any]] = {
    "rendered_text": {"n_operands": 2},
    "counting": {"n_objects": [1, 4]},
    "cards": {"n_cards": 2},
}

#: CoT examples of v3 reach further into each range than direct ones (counting up to six objects),
#: so CoT helps on part of the range where direct fails without closing the gap.
COT_KNOBS: dict[str, dict[str, Any]] = {**EASY_KNOBS, "counting": {"n_objects": [1, 6]}}

#: CoT examples of v4: the whole range of rendered_text and cards, counting up to six objects
#: (direct keeps the easy part of each range).
COT_KNOBS_V4: dict[str, dict[str, Any]] = {
    "rendered_text": {"n_operands": [2, 3]},
    "counting": {"n_objects": [1, 6]},
    "cards": {"n_cards": [2, 3]},
}

#: CoT examples of v5: as v4's, counting up to seven objects (v4's CoT failed on the hard half of
#: each range: 0.13 on three operands, 0.16 on three cards), so CoT helps further into each range
#: than direct without reaching cascaded.
COT_KNOBS_V5: dict[str, dict[str, Any]] = {**COT_KNOBS_V4, "counting": {"n_objects": [1, 7]}}

_RESUME = "skillgap train-tiny --recipe default --phase {phase} --init-from {start} --out {out}"

#: Every recorded phase of the shipped model, in order; each version continues the one before.
PHASES: list[Phase] = [
    Phase(
        name="phase1", from_previous=False, stop_after=1900,
        config=TrainConfig(steps=3600, batch_size=64, lr=1e-3, textual_share=0.6, checkpoint_every=100),
        command="skillgap train-tiny --out base --steps 3600 --batch-size 64 --lr 1e-3 "
                "--textual-share 0.6 --checkpoint-every 100 (stopped after the step-1900 checkpoint)",
        first_losses=FIRST_LOSSES_PHASE1,
    ),
    Phase(
        name="phase2",
        config=TrainConfig(steps=1300, batch_size=64, lr=7e-4, warmup_steps=50, textual_share=0.85),
        command="skillgap train-tiny --out phase2 --init-from base/checkpoint.pt --steps 1300 "
                "--batch-size 64 --lr 7e-4 --warmup-steps 50 --textual-share 0.85",
    ),
    Phase(
        name="phase3",
        config=TrainConfig(steps=300, batch_size=64, lr=3e-4, warmup_steps=20, decay_fraction=0.5,
                           textual_share=0.7, cot_share=0.05, direct_share=0.2, checkpoint_every=50),
        command="skillgap train-tiny --out share-20 --init-from phase2/checkpoint.pt --steps 300 "
                "--batch-size 64 --lr 3e-4 --warmup-steps 20 --textual-share 0.7 --cot-share 0.05 "
                "--direct-share 0.2 --threads 1",
        note="the v1 shipped model (decay_fraction as its card records; phases 1-2 used the default)",
    ),
    # v2: continue v1 with far more textual examples (counting weighted most: it was the weakest),
    # visual examples in every step (text-only training had erased the visual skill), and direct /
    # CoT examples from the easy part of each range only.
    Phase(
        name="phase4",
        config=TrainConfig(
            steps=1200, batch_size=192, lr=6e-4, warmup_steps=30, decay_fraction=0.3,
            direct_share=0.25, cot_share=0.08, textual_share=0.75,
            task_weights={"textual": {"rendered_text": 2.0, "counting": 3.0, "cards": 1.0}},
            knobs={"direct": EASY_KNOBS, "cot": EASY_KNOBS}, checkpoint_every=50,
        ),
        command=_RESUME.format(phase="phase4", start="<v1 model folder>", out="v2"),
        note="v2: far more textual examples (counting weighted most), visual examples kept in every "
             "step, direct and CoT examples from the easy part of each task's range only",
    ),
    # v3: a lower learning rate, mostly textual examples (v2's textual skills failed on the hard half
    # of each range, and their loss fell only while the rate decayed), more CoT examples, seed 5.
    Phase(
        name="phase5",
        config=TrainConfig(
            steps=800, batch_size=192, lr=3e-4, warmup_steps=20, decay_fraction=0.5,
            direct_share=0.2, cot_share=0.12, textual_share=0.85, seed=5,
            task_weights={"textual": {"rendered_text": 3.0, "counting": 4.0, "cards": 1.5}},
            knobs={"direct": EASY_KNOBS, "cot": COT_KNOBS}, checkpoint_every=50,
        ),
        command=_RESUME.format(phase="phase5", start="<v2 model folder>", out="v3"),
        note="v3: lower learning rate, mostly textual examples (hard half of each range), more CoT "
             "examples reaching further into each range than direct ones",
    ),
    # v4: v3's CoT wrote the right intermediate on every counting sample but then counted it
    # wrongly, and matched direct elsewhere; a short phase with far more CoT examples, seed 6.
    Phase(
        name="phase6",
        config=TrainConfig(
            steps=300, batch_size=192, lr=2e-4, warmup_steps=10, decay_fraction=0.5,
            direct_share=0.15, cot_share=0.3, textual_share=0.85, seed=6,
            task_weights={"textual": {"rendered_text": 3.0, "counting": 4.0, "cards": 1.0},
                          "cot": {"rendered_text": 2.0, "counting": 3.0, "cards": 2.0}},
            knobs={"direct": EASY_KNOBS, "cot": COT_KNOBS_V4}, checkpoint_every=50,
        ),
        command=_RESUME.format(phase="phase6", start="<v3 model folder>", out="v4"),
        note="v4: far more CoT examples (counting weighted most), CoT on the whole range of "
             "rendered_text and cards and up to six objects on counting",
    ),
    # v5, first phase: more CoT examples again (its loss was still falling when v4 stopped),
    # textual examples weighted on counting (the weakest skill), seed 7.
    Phase(
        name="phase7",
        config=TrainConfig(
            steps=450, batch_size=192, lr=2e-4, warmup_steps=10, decay_fraction=0.5,
            direct_share=0.12, cot_share=0.38, textual_share=0.85, seed=7,
            task_weights={"textual": {"rendered_text": 2.0, "counting": 5.0, "cards": 1.0},
                          "cot": {"rendered_text": 3.0, "counting": 3.0, "cards": 3.0}},
            knobs={"direct": EASY_KNOBS, "cot": COT_KNOBS_V5}, checkpoint_every=50,
        ),
        command=_RESUME.format(phase="phase7", start="<v4 model folder>", out="v5"),
        note="v5: more CoT examples on the whole range of rendered_text and cards and up to seven "
             "objects on counting, textual examples weighted on counting",
    ),
    # v5, second phase: phase 7's CoT wrote the right intermediate and then computed its answer
    # wrongly (the arithmetic and the count that the textual skills do well alone), so CoT answers
    # weigh five times as much, with more CoT examples again, seed 8.
    Phase(
        name="phase8",
        config=TrainConfig(
            steps=300, batch_size=192, lr=2e-4, warmup_steps=10, decay_fraction=0.5,
            direct_share=0.1, cot_share=0.42, textual_share=0.85, seed=8, cot_answer_weight=5.0,
            task_weights={"textual": {"rendered_text": 2.0, "counting": 5.0, "cards": 1.0},
                          "cot": {"rendered_text": 3.0, "counting": 4.0, "cards": 3.0}},
            knobs={"direct": EASY_KNOBS, "cot": COT_KNOBS_V5}, checkpoint_every=50,
        ),
        command=_RESUME.format(phase="phase8", start="v5/phase7/model", out="v5"),
        note="v5, second phase: CoT answers weigh five times the rest of a CoT example's tokens",
    ),
]

#: How many of ``PHASES`` made each shipped version (``default``: the model shipped now).
_VERSIONS = {"v1": 3, "v2": 4, "v3": 5, "v4": 6, "default": len(PHASES)}



def _first(count: int) -> list[Phase]:
    return PHASES[:count]


RECIPES: dict[str, Callable[[], list[Phase]]] = {
    name: partial(_first, count) for name, count in _VERSIONS.items()
}


def recipe(name: str) -> list[Phase]:
    """The recorded phases of a recipe (``default``: the shipped model; ``v4``, ``v3``, ``v2``,
    ``v1``: its predecessors)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from: {', '.join(RECIPES)}")
    return RECIPES[name]()


def train_recipe(
    name: str,
    out: str | Path,
    *,
    phases: list[str] | None = None,
    init_from: str | None = None,
    device: str | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Run a recipe's phases in order into ``out/<phase name>``; rerunning resumes.

    ``phases`` runs only the named ones (the first of them starts from ``init_from``, e.g. a
    shipped model folder, unless it is the recipe's first phase). The last phase exports
    ``out/<phase>/model`` with every phase of the recipe in its card's lineage.
    """
    out = Path(out)
    chain = recipe(name)
    selected = [p for p in chain if phases is None or p.name in phases]
    if phases is not None and len(selected) != len(set(phases)):
        raise ValueError(f"unknown phase in {phases!r}; recipe {name!r} has: "
                         f"{', '.join(p.name for p in chain)}")
    lineage: list[dict[str, Any]] = []
    recorded = _card_lineage(init_from) if init_from else []
    previous: Path | None = None
    result: TrainResult | None = None
    for index, phase in enumerate(chain):
        entry: dict[str, Any] = {"phase": index + 1, "name": phase.name, "command": phase.command,
                                 "steps": phase.steps_run,
                                 "examples": phase.steps_run * phase.config.batch_size,
                                 "data_mix": _data_mix(phase.config)}
        if phase.note:
            entry["note"] = phase.note
        if phase not in selected:
            # Phases not rerun here: what the starting model's card recorded about them, if anything.
            lineage.append(recorded[index] if index < len(recorded) else {**entry, "run": "not rerun here"})
            previous = out / phase.name / CHECKPOINT
            continue
        config = phase.config
        start = init_from if phase is selected[0] and init_from else (
            str(previous) if phase.from_previous and previous is not None else config.init_from
        )
        if phase.from_previous and start is None:
            raise ValueError(f"phase {phase.name} continues an earlier phase: pass init_from")
        config = config.model_copy(update={"init_from": str(Path(start).resolve()) if start else None})
        is_last = phase is selected[-1]
        result = train_tiny(config, out / phase.name, device=device, threads=threads, progress=progress,
                            stop_after=phase.stop_after, lineage=lineage, export=is_last,
                            phase_info={"name": phase.name, "command": phase.command,
                                        "init_from": config.init_from,
                                        **({"note": phase.note} if phase.note else {})})
        lineage.append({**entry, "init_from": config.init_from, "wall_time_s": result.wall_time_s,
                        "final_running_losses": result.final_losses})
        previous = out / phase.name / CHECKPOINT
    assert result is not None
    return result


def _card_lineage(folder: str) -> list[dict[str, Any]]:
    card = Path(folder) / MODEL_CARD
    if not card.is_file():
        return []
    return list(json.loads(card.read_text()).get("training", {}).get("lineage", []))


__all__ = [
    "COT_KNOBS",
    "COT_KNOBS_V4",
    "COT_KNOBS_V5",
    "EASY_KNOBS",
    "KINDS",
    "PHASES",
    "RECIPES",
    "BatchMaker",
    "Phase",
    "TrainConfig",
    "TrainResult",
    "collate",
    "learning_rate",
    "recipe",
    "train_recipe",
    "train_seed",
    "train_tiny",
]
