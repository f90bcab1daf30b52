"""``skillgap eval``: run the eval suite and report the gap per task."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ._args import csv as _csv
from ._model_options import add_model_options, model_options
from ._scale import add_arguments as add_scale_arguments
from ._scale import build_backend

if TYPE_CHECKING:
    from ..backends import Backend
    from ..telemetry import TraceConfig


def _trace_config(args: argparse.Namespace) -> TraceConfig:
    import os

    from ..telemetry import TraceConfig

    settings: dict[str, object] = {"redact_images": args.trace_redact_images}
    if args.trace_project:
        settings["project_name"] = args.trace_project
    if args.trace_image_max_chars is not None:
        settings["image_max_chars"] = args.trace_image_max_chars
    return TraceConfig.parse(args.trace or os.environ.get("SKILLGAP_TRACE"), **settings)


def _resume_command(args: argparse.Namespace, out: Path) -> str:
    """The command that was run, with ``--out`` naming the folder it wrote (and no --overwrite)."""
    argv = list(getattr(args, "argv", None) or [])
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--out":
            skip = True
        elif not arg.startswith("--out=") and arg != "--overwrite":
            kept.append(arg)
    return shlex.join(["skillgap", *(kept or ["eval"]), "--out", str(out)])


def _backend_options(args: argparse.Namespace) -> dict[str, object]:
    options: dict[str, object] = {}
    if args.backend == "transformers":
        options = {"max_batch_size": args.batch_size, **model_options(args)}
        if args.device:
            options["device"] = args.device
    if args.backend == "openai":  # the API key comes from $SKILLGAP_API_KEY or $OPENAI_API_KEY
        import os

        options = {"base_url": args.base_url or os.environ.get("OPENAI_BASE_URL"),
                   "concurrency": args.concurrency,
                   "timeout_s": args.timeout, "max_retries": args.max_retries,
                   "structured_outputs": args.structured_outputs}
    elif args.base_url:
        raise ValueError("--base-url needs --backend openai")
    return options


def _eval(args: argparse.Namespace) -> int:
    # Built first: a local model starts loading in its worker process while this one imports and
    # draws the rest of the run (tasks, samples, graphs).
    backend: Backend = build_backend(args, _backend_options(args))  # a model, a fleet, or replicas
    try:
        return _run(args, backend)
    finally:
        close = getattr(backend, "close", None)
        if callable(close):  # a model worker process, Ray replicas: stop them now, not at exit
            close()


def _run(args: argparse.Namespace, backend: Backend) -> int:
    from ..backends import CachedBackend, default_cache_path
    from ..evals import EvalConfig, format_table, run_eval
    from ..evals._config import new_run_dir
    from ..tasks import Sample, SampleError, builtin_task_names, resolve_tasks

    trace_config = _trace_config(args)
    tasks = _csv(args.tasks) if args.tasks else builtin_task_names()
    # Loading a task file registers its tasks (and skills) before any dataset row names them.
    names = [task.name for task in resolve_tasks(tasks)]
    n = args.n if args.n is not None else 50
    items: list[Sample | SampleError] | None = None
    dataset = str(Path(args.dataset).expanduser().resolve()) if args.dataset else None
    if dataset is not None:
        from ..tasks import load_dataset, select

        items = select(load_dataset(dataset), names, args.n)
        if args.n is None:  # no cap: n records the largest task's row count
            counts = [sum(item.task == task for item in items) for task in names]
            n = max([1, *counts])
    cache = None
    if not args.no_cache:
        backend = cache = CachedBackend(backend, Path(args.cache) if args.cache else default_cache_path())
    from ..evals._routing import resolve_routed

    strategies, routers = resolve_routed(_csv(args.strategies))
    config = EvalConfig(
        tasks=tasks,
        strategies=strategies,
        routers=routers,
        n=n,
        seed=args.seed,
        layout=args.layout or getattr(backend, "native_layout", "free"),
        constrained=not args.unconstrained,
        skills=not args.no_skills,
        dataset=dataset,
    )
    out = Path(args.out).expanduser() if args.out else new_run_dir()
    tracing = None
    if trace_config.exporter != "none":
        from ..telemetry import configure_tracing

        tracing = configure_tracing(trace_config)
    try:
        summary = run_eval(config, backend, out, samples=items, show_progress=not args.quiet,
                           overwrite=args.overwrite)
        from ..reports import ensure_run_report

        ensure_run_report(out, summary)
    except KeyboardInterrupt:  # what is logged is kept: say how to go on, not where it stopped
        print(f"\nskillgap: interrupted; every finished sample is saved in {out}/. Resume with: "
              f"{_resume_command(args, out)}", file=sys.stderr)
        return 130
    finally:
        if tracing is not None:
            tracing.shutdown()
        if cache is not None:
            cache.close()
    print(format_table(summary))
    bad = [item for item in items or () if isinstance(item, SampleError)]
    if bad:
        print(f"first unusable dataset row: {bad[0]}")  # the count is in the table above
    if cache is not None:
        print(f"call cache {cache.path}: {cache.hits} hits, {cache.misses} model calls")
    print(f"results in {out}/ (samples.jsonl, summary.json, report.md, report.html, plots/)")
    if tracing is not None:
        failed = f" ({tracing.export_failures} failed exports)" if tracing.export_failures else ""
        print(f"traces sent to {trace_config.target()}{failed}")
        if trace_config.path is not None:
            print(f"summarize them with: skillgap trace summarize {trace_config.path}")
        from ..telemetry._phoenix import read_trace_note

        note = read_trace_note(out)
        if note is not None and note.phoenix_url:
            print(f"in Phoenix: {note.phoenix_url}, session {note.run_id} "
                  f"({note.annotated} scores posted as annotations)")
    if summary.error_rate > args.max_error_rate:  # failures must not pass for a finished eval
        print(f"skillgap: error: {summary.error_rate:.0%} of the calls failed ({summary.errors} of "
              f"{summary.attempted}), more than --max-error-rate {args.max_error_rate:g}; "
              "first error per task is in the table above", file=sys.stderr)
        return 1
    return 0


def _more_tasks() -> str:
    from ..tasks import builtin_task_names, task_names

    more = [name for name in task_names() if name not in builtin_task_names()]
    return f"; also installed: {','.join(more)}" if more else ""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ..backends import backend_names
    from ..graphs import strategy_names
    from ..tasks import builtin_task_names

    ev = sub.add_parser("eval", help="run the eval suite and report the gap per task")
    ev.add_argument("--model", default=None,
                    help="hub id or local folder (default: the embedded tiny model)")
    ev.add_argument("--backend", default="transformers", choices=backend_names(),
                    help="openai: a model served over HTTP (vLLM, SGLang, llama.cpp, TGI, "
                         "skillgap serve); API key from $SKILLGAP_API_KEY or $OPENAI_API_KEY")
    ev.add_argument("--tasks", default=None, metavar="TASKS",
                    help="comma-separated tasks: registered names (default: "
                         f"{','.join(builtin_task_names())}{_more_tasks()}), or FILE.py@NAME for "
                         "a task in your own file (FILE.py alone: all its tasks)")
    ev.add_argument("--strategies", default=",".join(strategy_names()), metavar="STRATEGIES",
                    help="comma-separated strategies (default: %(default)s; each skill is also "
                         "measured alone unless --no-skills), and routed:ROUTER_FILE for a router")
    ev.add_argument("--n", type=int, default=None,
                    help="samples per task (default 50; with --dataset: every row)")
    ev.add_argument("--seed", type=int, default=1000,
                    help="seed of the generated samples (same seed, same images; default %(default)s)")
    ev.add_argument("--layout", choices=["grid", "free"], default=None,
                    help="image layout (default: the model's native layout)")
    ev.add_argument("--out", default=None, metavar="DIR",
                    help="run folder (default: a new one, runs/<UTC time>); an existing run "
                         "folder is resumed when the settings match")
    ev.add_argument("--overwrite", action="store_true",
                    help="delete the run in --out and start it again")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--device", default=None)
    add_model_options(ev)
    ev.add_argument("--base-url", default=None, metavar="URL",
                    help="--backend openai: the API root (default: $OPENAI_BASE_URL, else "
                         "http://127.0.0.1:8000/v1); several, comma-separated or a file of them, "
                         "make a fleet")
    ev.add_argument("--concurrency", type=int, default=32,
                    help="--backend openai: most requests in flight")
    ev.add_argument("--timeout", type=float, default=120.0,
                    help="--backend openai: seconds per HTTP attempt")
    ev.add_argument("--max-retries", type=int, default=5,
                    help="--backend openai: retries on 429, 5xx, timeouts, dropped connections")
    ev.add_argument("--structured-outputs", default="vllm",
                    choices=["vllm", "vllm-legacy", "sglang", "json-only", "off"],
                    help="--backend openai: how regex constraints reach the server (JSON schemas "
                         "go in response_format unless off); see the README")
    ev.add_argument("--unconstrained", action="store_true", help="no constrained decoding")
    ev.add_argument("--no-skills", action="store_true",
                    help="skip measuring each skill alone")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.add_argument("--max-error-rate", type=float, default=0.5, metavar="RATE",
                    help="exit with status 1 when more than this share of the calls failed "
                         "(errors, not wrong answers; default 0.5)")
    ev.add_argument("--dataset", default=None, metavar="PATH",
                    help="your own data: a JSONL file (rows: image, question, answer, task, "
                         "optional intermediate, inputs, id) or a saved Hugging Face dataset "
                         "folder; --tasks filters it, --n caps rows per task")
    ev.add_argument("--cache", default=None, metavar="PATH",
                    help="model-call cache file (default: $SKILLGAP_CACHE/calls.sqlite, "
                         "SKILLGAP_CACHE defaulting to ~/.cache/skillgap)")
    ev.add_argument("--no-cache", action="store_true", help="call the model for every request")
    ev.add_argument("--trace", default=None, metavar="TARGET",
                    help="trace the run with OpenTelemetry: none (default, or $SKILLGAP_TRACE), "
                         "console, otlp (OTLP/HTTP; honours OTEL_EXPORTER_OTLP_*), otlp:URL, "
                         "phoenix[:URL] (OTLP to Phoenix, scores posted as annotations; a plain "
                         "otlp:URL that is Phoenix gets them too), or jsonl:PATH (one span per line)")
    ev.add_argument("--trace-project", default=None, metavar="NAME",
                    help="Phoenix project of the spans (default $PHOENIX_PROJECT_NAME or skillgap)")
    ev.add_argument("--trace-redact-images", action="store_true",
                    help="put no image data in spans")
    ev.add_argument("--trace-image-max-chars", type=int, default=None, metavar="N",
                    help="cut image data URIs in spans to N characters (default 16384)")
    add_scale_arguments(ev)
    ev.set_defaults(func=_eval)
