"""``skillgap train-tiny``: train the embedded tiny MLLM."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._args import csv as _csv


def _train_tiny(args: argparse.Namespace) -> int:
    from ..tiny._training import TrainConfig, train_tiny

    fields = {
        "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "direct_share": args.direct_share, "cot_share": args.cot_share,
        "textual_share": args.textual_share, "warmup_steps": args.warmup_steps,
        "visual_warmup_steps": args.visual_warmup_steps, "checkpoint_every": args.checkpoint_every,
        "tasks": _csv(args.tasks),
        "direct_tasks": _csv(args.direct_tasks) if args.direct_tasks else None,
        "init_from": str(Path(args.init_from).resolve()) if args.init_from else None,
    }
    config = TrainConfig(**{key: value for key, value in fields.items() if value is not None})
    result = train_tiny(config, args.out, device=args.device, threads=args.threads,
                        progress=not args.quiet)
    print(f"trained {result.steps} steps in {result.wall_time_s:.0f} s; losses {result.final_losses}")
    print(f"model in {result.model_dir}/ — evaluate it with: skillgap eval --model {result.model_dir}")
    return 0


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
    tr.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    tr.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=_train_tiny)
