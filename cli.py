"""The ``skillgap`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _eval(args: argparse.Namespace) -> int:
    from .backends import load_backend
    from .evals import EvalConfig, format_table, run_eval

    options: dict[str, object] = {}
    if args.backend == "transformers":
        options = {"max_batch_size": args.batch_size}
        if args.device:
            options["device"] = args.device
    backend = load_backend(args.backend, args.model, **options)
    config = EvalConfig(
        tasks=_csv(args.tasks),
        strategies=_csv(args.strategies),
        n=args.n,
        seed=args.seed,
        layout=args.layout or getattr(backend, "native_layout", "free"),
        constrained=not args.unconstrained,
        skills=not args.no_skills,
    )
    out = Path(args.out)
    summary = run_eval(config, backend, out, show_progress=not args.quiet)
    print(format_table(summary))
    print(f"results in {out}/ (samples.jsonl, summary.json, run.json)")
    return 0


def _skills(args: argparse.Namespace) -> int:
    from .skills import list_skills

    for skill in list_skills():
        print(f"{skill.modality:>6}  {skill.signature()}")
    return 0


def _draw(args: argparse.Namespace) -> int:
    from .evals import composition
    from .graphs import strategy

    print(strategy(args.strategy, composition(args.task)).draw())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skillgap",
        description="Compose the skills of multimodal LLMs and measure the composition gap.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("eval", help="run the eval suite and report the gap per task")
    ev.add_argument("--model", default=None,
                    help="hub id or local folder (default: the embedded tiny model)")
    ev.add_argument("--backend", default="transformers", choices=["transformers", "mock"])
    ev.add_argument("--tasks", default="rendered_text,counting,cards")
    ev.add_argument("--strategies", default="direct,cascaded,cot")
    ev.add_argument("--n", type=int, default=50, help="samples per task (default 50)")
    ev.add_argument("--seed", type=int, default=1000)
    ev.add_argument("--layout", choices=["grid", "free"], default=None,
                    help="image layout (default: the model's native layout)")
    ev.add_argument("--out", default="runs/latest", help="output folder; rerun to resume")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--device", default=None)
    ev.add_argument("--unconstrained", action="store_true", help="no constrained decoding")
    ev.add_argument("--no-skills", action="store_true",
                    help="skip measuring each skill alone")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=_eval)

    sk = sub.add_parser("skills", help="list registered skills")
    sk.set_defaults(func=_skills)

    dr = sub.add_parser("draw", help="print a strategy's graph as Mermaid")
    dr.add_argument("strategy", choices=["direct", "cascaded", "cot"])
    dr.add_argument("--task", default="rendered_text")
    dr.set_defaults(func=_draw)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"skillgap: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

