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

import json
import os
import platform
import random
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from ..tasks import builtin_task_names
from ._model import MODEL_CARD, build_tiny_model

KINDS = ("visual", "textual", "direct", "cot")
#: The reference tasks, from the task registry (the tiny model's vocabulary covers these only).
TASKS = tuple(builtin_task_names())
CHECKPOINT = "checkpoint.pt"
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
            task = rng.choice(tasks)
            drawn = self.generators[task].draw(
                sample_rng(task, "grid", seed, index), "grid", self.knobs[task]
            )
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


def collate(examples: list[_Example], processor: Any) -> dict[str, Any]:
    """Tokenise prompt + target + ``</s>``; labels cover the target and ``</s>`` only."""
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
) -> TrainResult:
    """Train (or resume training) the tiny model into ``out``; the model lands in ``out/model``.

    Rerunning with the same ``out`` resumes from ``out/checkpoint.pt``; a different config for the
    same folder is refused (except ``steps``, which may grow to train longer).
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
    bar = tqdm(total=config.steps, initial=start, disable=not progress, desc="train-tiny", unit="step")
    step = start
    with (out / LOG).open("a") as log:
        for step in range(start, config.steps):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step) * group["lr_scale"]
            examples = maker.batch(step)
            optimizer.zero_grad(set_to_none=True)
            per_kind = _accumulate(model, processor, examples, device)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            for kind, mean in per_kind.items():
                running[kind] = mean if kind not in running else 0.95 * running[kind] + 0.05 * mean
            bar.update(1)
            bar.set_postfix({kind: f"{running[kind]:.3f}" for kind in KINDS if kind in running})
            if on_step is not None:
                on_step(step, dict(running))
            done = step + 1
            if done % 20 == 0 or done == config.steps:
                log.write(json.dumps({"step": done, "lr": learning_rate(config, step),
                                      "batch": {k: round(v, 5) for k, v in per_kind.items()},
                                      "running": {k: round(v, 5) for k, v in running.items()},
                                      "elapsed_s": round(time.perf_counter() - began, 1)}) + "\n")
                log.flush()
            if done % config.checkpoint_every == 0 or done == config.steps:
                _save_atomic(
                    {"config": config.model_dump(), "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "step": done,
                     "elapsed_s": time.perf_counter() - began},
                    checkpoint_path,
                )
    bar.close()
    wall = time.perf_counter() - began
    model_dir = export_model(model, processor, out / "model", config, wall_time_s=wall,
                             device=device, losses=running)
    return TrainResult(model_dir=str(model_dir), steps=config.steps, wall_time_s=round(wall, 1),
                       final_losses={k: round(v, 5) for k, v in running.items()})


def _accumulate(model: Any, processor: Any, examples: list[_Example], device: str) -> dict[str, float]:
    """Forward and backward one step's batch in per-kind micro-batches; return mean loss per kind.

    Kinds differ a lot in length (a CoT prompt is three times a textual one); padding them into one
    tensor would triple the work, so each kind runs alone and the gradients add up. The loss is the
    mean over every answer token of the step, as if it were one batch.
    """
    import torch

    groups: dict[tuple[str, str], list[_Example]] = defaultdict(list)
    for example in examples:  # (kind, task): prompts of one group have nearly the same length
        groups[example.kind, example.task].append(example)
    batches = {key: collate(group, processor) for key, group in groups.items()}
    total = sum(int((batch["labels"][:, 1:] != -100).sum()) for batch in batches.values())
    losses: dict[str, list[float]] = defaultdict(list)
    for (kind, _task), batch in batches.items():
        batch = {key: value.to(device) for key, value in batch.items()}
        labels = batch.pop("labels")
        logits = model(**batch).logits[:, :-1].float()
        targets = labels[:, 1:]
        token_loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100,
            reduction="none",
        ).view(targets.shape)
        mask = (targets != -100).float()
        ((token_loss * mask).sum() / total).backward()
        per_example = (token_loss * mask).sum(1) / mask.sum(1).clamp(min=1)
        losses[kind].extend(per_example.detach().cpu().tolist())
    return {kind: sum(values) / len(values) for kind, values in losses.items()}


def export_model(
    model: Any, processor: Any, folder: Path, config: TrainConfig, *, wall_time_s: float, device: str,
    losses: dict[str, float],
) -> Path:
    """Save weights (``config.weight_dtype``) + processor + a card recording how they were made."""
    import copy

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    exported = copy.deepcopy(model).to("cpu").to(getattr(torch, config.weight_dtype)).eval()
    exported.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    parameters = sum(p.numel() for p in model.parameters())
    card = {
        "layout": "grid",
        "image_size": 80,
        "builder": __name__,
        "trained": True,
        "training": {
            "config": config.model_dump(),
            "steps": config.steps,
            "examples_seen": config.steps * config.batch_size,
            "data_mix": _data_mix(config),
            "wall_time_s": round(wall_time_s, 1),
            "hardware": _hardware(device),
            "final_running_losses": {k: round(v, 5) for k, v in losses.items()},
            "train_seeds": "negative generator seeds (-1 - seed*10**7 - step); evaluate on seeds >= 0",
        },
        "parameters": parameters,
    }
    (folder / MODEL_CARD).write_text(json.dumps(card, indent=2))
    return folder


def _data_mix(config: TrainConfig) -> dict[str, float]:
    skills = 1 - config.direct_share - config.cot_share
    return {
        "visual": round(skills * (1 - config.textual_share), 4),
        "textual": round(skills * config.textual_share, 4),
        "direct": config.direct_share,
        "cot": config.cot_share,
    }


def _hardware(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


__all__ = ["KINDS", "BatchMaker", "TrainConfig", "TrainResult", "collate", "learning_rate", "train_seed",
           "train_tiny"]
