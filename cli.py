"""The ``skillgap`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _eval(args: argparse.Namespace) -> int:
    from .backends import Backend, CachedBackend, default_cache_path, load_backend
    from .evals import EvalConfig, Sample, SampleError, format_table, run_eval

    tasks = _csv(args.tasks)
    n = args.n if args.n is not None else 50
    items: list[Sample | SampleError] | None = None
    dataset = str(Path(args.dataset).expanduser().resolve()) if args.dataset else None
    if dataset is not None:
        from .evals._datasets import load_dataset, select

        items = select(load_dataset(dataset), tasks, args.n)
        if args.n is None:  # no cap: n records the largest task's row count
            counts = [sum(item.task == task for item in items) for task in tasks]
            n = max([1, *counts])
    options: dict[str, object] = {}
    if args.backend == "transformers":
        options = {"max_batch_size": args.batch_size}
        if args.device:
            options["device"] = args.device
    backend: Backend = load_backend(args.backend, args.model, **options)
    cache = None
    if not args.no_cache:
        backend = cache = CachedBackend(backend, Path(args.cache) if args.cache else default_cache_path())
    config = EvalConfig(
        tasks=tasks,
        strategies=_csv(args.strategies),
        n=n,
        seed=args.seed,
        layout=args.layout or getattr(backend, "native_layout", "free"),
        constrained=not args.unconstrained,
        skills=not args.no_skills,
        dataset=dataset,
    )
    out = Path(args.out)
    try:
        summary = run_eval(config, backend, out, samples=items, show_progress=not args.quiet)
    finally:
        if cache is not None:
            cache.close()
    print(format_table(summary))
    bad = [item for item in items or () if isinstance(item, SampleError)]
    if bad:
        print(f"{len(bad)} dataset rows could not be used (first: {bad[0]}); "
              f"all listed in {out}/dataset_errors.jsonl")
    if cache is not None:
        print(f"call cache {cache.path}: {cache.hits} hits, {cache.misses} model calls")
    print(f"results in {out}/ (samples.jsonl, summary.json, report.md, report.html, plots/)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .evals import write_comparison

    folders = [Path(folder) for folder in args.dirs]
    out = Path(args.out) if args.out else (folders[0] if len(folders) == 1 else Path("runs/compare"))
    written = write_comparison(folders, out)
    print(f"report in {out}/ ({written['markdown'].name}, {written['html'].name}, plots/)")
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
    ev.add_argument("--n", type=int, default=None,
                    help="samples per task (default 50; with --dataset: every row)")
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
    ev.add_argument("--dataset", default=None, metavar="PATH",
                    help="your own data: a JSONL file (rows: image, question, answer, task, "
                         "optional intermediate, inputs, id) or a saved Hugging Face dataset "
                         "folder; --tasks filters it, --n caps rows per task")
    ev.add_argument("--cache", default=None, metavar="PATH",
                    help="model-call cache file (default: $SKILLGAP_CACHE/calls.sqlite, "
                         "SKILLGAP_CACHE defaulting to ~/.cache/skillgap)")
    ev.add_argument("--no-cache", action="store_true", help="call the model for every request")
    ev.set_defaults(func=_eval)

    rp = sub.add_parser("report", help="render markdown + HTML reports of runs, side by side")
    rp.add_argument("dirs", nargs="+", metavar="DIR", help="run folders (each with samples.jsonl)")
    rp.add_argument("--out", default=None,
                    help="output folder (default: the run folder for one run, runs/compare for several)")
    rp.set_defaults(func=_report)

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

