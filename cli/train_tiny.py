"""``skillgap train-tiny``: train the embedded tiny MLLM."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._args import csv as _csv


def _train_tiny(args: argparse.Namespace) -> int:
    from ..tiny._training import TrainConfig, train_recipe, train_tiny

    if args.recipe:
        given = [name for name in _RECIPE_FIXED if getattr(args, name) is not None]
        if given:
            raise SystemExit("--recipe fixes every training option; drop "
                             + ", ".join("--" + name.replace("_", "-") for name in given))
        result = train_recipe(
            args.recipe, args.out, phases=_csv(args.phase) if args.phase else None,
            init_from=str(Path(args.init_from).resolve()) if args.init_from else None,
            device=args.device, threads=args.threads, progress=not args.quiet,
        )
        print(f"trained {result.steps} steps in {result.wall_time_s:.0f} s; losses {result.final_losses}")
        print(f"model in {result.model_dir}/ — evaluate it with: skillgap eval --model {result.model_dir}")
        return 0
    fields = {
        "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "direct_share": args.direct_share, "cot_share": args.cot_share,
        "textual_share": args.textual_share, "warmup_steps": args.warmup_steps,
        "visual_warmup_steps": args.visual_warmup_steps, "checkpoint_every": args.checkpoint_every,
        "tasks": _csv(args.tasks),
        "direct_tasks": _csv(args.direct_tasks) if args.direct_tasks else None,
        "init_from": str(Path(args.init_from).resolve()) if args.init_from else None,
        "decay_fraction": args.decay_fraction, "vision_lr_scale": args.vision_lr_scale,
        "knobs": _kind_task_values(args.knobs, "--knobs", parse_value=True) if args.knobs else None,
        "task_weights": _kind_task_values(args.task_weights, "--task-weights") if args.task_weights else None,
        "cot_answer_weight": args.cot_answer_weight,
    }
    config = TrainConfig(**{key: value for key, value in fields.items() if value is not None})
    result = train_tiny(config, args.out, device=args.device, threads=args.threads,
                        progress=not args.quiet)
    print(f"trained {result.steps} steps in {result.wall_time_s:.0f} s; losses {result.final_losses}")
    print(f"model in {result.model_dir}/ — evaluate it with: skillgap eval --model {result.model_dir}")
    return 0


_RECIPE_FIXED = ("steps", "batch_size", "lr", "seed", "direct_share", "direct_tasks", "cot_share",
                 "textual_share", "warmup_steps", "visual_warmup_steps", "checkpoint_every",
                 "decay_fraction", "vision_lr_scale", "knobs", "task_weights", "cot_answer_weight")


def _kind_task_values(items: list[str], option: str, *, parse_value: bool = False) -> dict[str, Any]:
    """``KIND:TASK:NAME=VALUE`` (knobs) or ``KIND:TASK=WEIGHT`` (weights) items as nested dicts."""
    result: dict[str, Any] = {}
    for item in items:
        head, sep, raw = item.partition("=")
        parts = head.split(":")
        if not sep or len(parts) != (3 if parse_value else 2) or not all(parts):
            form = "KIND:TASK:KNOB=VALUE" if parse_value else "KIND:TASK=WEIGHT"
            raise SystemExit(f"{option} {item!r}: expected {form}")
        if parse_value:
            kind, task, name = parts
            try:
                value: Any = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
            result.setdefault(kind, {}).setdefault(task, {})[name] = value
        else:
            kind, task = parts
            try:
                result.setdefault(kind, {})[task] = float(raw)
            except ValueError:
                raise SystemExit(f"{option} {item!r}: the weight must be a number") from None
    return result


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tr = sub.add_parser(
        "train-tiny", help="train the embedded tiny MLLM from scratch on the reference skills",
        description="Train the tiny LLaVA on the eval generators' skills (grid layout). Rerun the "
                    "same command to resume from OUT/checkpoint.pt; the model lands in OUT/model.",
    )
    tr.add_argument("--out", required=True, help="training folder (checkpoint, log, model/)")
    tr.add_argument("--steps", type=int, default=None, help="optimiser steps (default 3000)")
    tr.add_argument("--batch-size", type=int, default=None, help="examples per step (default 96)")
    tr.add_argument("--lr", type=float, default=None, help="peak learning rate (default 1e-3)")
    tr.add_argument("--seed", type=int, default=None, help="initialisation and data seed (default 0)")
    tr.add_argument("--direct-share", type=float, default=None,
                    help="share of composed (direct-format) examples, 0 to 1 (default 0)")
    tr.add_argument("--direct-tasks", default=None,
                    help="tasks that get direct-format examples (default: all trained tasks)")
    tr.add_argument("--cot-share", type=float, default=None,
                    help="share of chain-of-thought examples (default 0)")
    tr.add_argument("--textual-share", type=float, default=None,
                    help="share of textual-skill examples among skill examples (default 0.5)")
    from ..tasks import builtin_task_names

    tr.add_argument("--tasks", default=",".join(builtin_task_names()),
                    help="comma-separated tasks to train on (default: %(default)s)")
    tr.add_argument("--warmup-steps", type=int, default=None)
    tr.add_argument("--visual-warmup-steps", type=int, default=None,
                    help="first steps train the visual skills only (default 0)")
    tr.add_argument("--init-from", default=None, metavar="PATH",
                    help="start from a model folder or checkpoint.pt instead of random weights")
    tr.add_argument("--checkpoint-every", type=int, default=None)
    tr.add_argument("--decay-fraction", type=float, default=None,
                    help="final fraction of the steps with a linear learning-rate decay (default 0.2)")
    tr.add_argument("--vision-lr-scale", type=float, default=None,
                    help="learning-rate multiplier of the vision tower and projector (default 2)")
    tr.add_argument("--knobs", action="append", default=None, metavar="KIND:TASK:KNOB=VALUE",
                    help="generator knob for one example kind and task, e.g. direct:counting:n_objects=[1,4] "
                         "(JSON value; repeatable): train direct/CoT on the easy part of a range only")
    tr.add_argument("--task-weights", action="append", default=None, metavar="KIND:TASK=WEIGHT",
                    help="relative weight of a task among one kind's examples, e.g. textual:counting=3 "
                         "(repeatable; unnamed tasks weigh 1)")
    tr.add_argument("--cot-answer-weight", type=float, default=None,
                    help="loss weight of a CoT example's final answer against its intermediate "
                         "(default 1)")
    tr.add_argument("--recipe", default=None,
                    help="run a recorded recipe's phases instead: default (the shipped model, from "
                         "scratch), v4, v3, v2 or v1 (its predecessors); OUT/<phase>/model is the result")
    tr.add_argument("--phase", default=None,
                    help="with --recipe: only these phases (comma-separated), the first from --init-from")
    tr.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    tr.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=_train_tiny)
