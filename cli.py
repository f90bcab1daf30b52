"""The ``skillgap`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .telemetry import TraceConfig


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _trace_config(args: argparse.Namespace) -> TraceConfig:
    import os

    from .telemetry import TraceConfig

    settings: dict[str, object] = {"redact_images": args.trace_redact_images}
    if args.trace_project:
        settings["project_name"] = args.trace_project
    if args.trace_image_max_chars is not None:
        settings["image_max_chars"] = args.trace_image_max_chars
    return TraceConfig.parse(args.trace or os.environ.get("SKILLGAP_TRACE"), **settings)


def _eval(args: argparse.Namespace) -> int:
    from .backends import Backend, CachedBackend, default_cache_path, load_backend
    from .evals import EvalConfig, Sample, SampleError, format_table, run_eval

    trace_config = _trace_config(args)
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
    if args.backend == "openai":  # the API key comes from $SKILLGAP_API_KEY or $OPENAI_API_KEY
        import os

        options = {"base_url": args.base_url or os.environ.get("OPENAI_BASE_URL"),
                   "concurrency": args.concurrency,
                   "timeout_s": args.timeout, "max_retries": args.max_retries,
                   "structured_outputs": args.structured_outputs}
    elif args.base_url:
        raise ValueError("--base-url needs --backend openai")
    backend: Backend = load_backend(args.backend, args.model, **options)
    cache = None
    if not args.no_cache:
        backend = cache = CachedBackend(backend, Path(args.cache) if args.cache else default_cache_path())
    from .evals._routing import resolve_routed

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
    out = Path(args.out)
    tracing = None
    if trace_config.exporter != "none":
        from .telemetry import configure_tracing

        tracing = configure_tracing(trace_config)
    try:
        summary = run_eval(config, backend, out, samples=items, show_progress=not args.quiet)
    finally:
        if tracing is not None:
            tracing.shutdown()
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
    if tracing is not None:
        failed = f" ({tracing.export_failures} failed exports)" if tracing.export_failures else ""
        print(f"traces sent to {trace_config.target()}{failed}")
        if trace_config.path is not None:
            print(f"summarize them with: skillgap trace summarize {trace_config.path}")
    return 0


def _trace_summarize(args: argparse.Namespace) -> int:
    from .telemetry import summarize_trace

    print(summarize_trace(Path(args.file)))
    return 0


def _report(args: argparse.Namespace) -> int:
    from .evals import write_comparison

    folders = [Path(folder) for folder in args.dirs]
    out = Path(args.out) if args.out else (folders[0] if len(folders) == 1 else Path("runs/compare"))
    written = write_comparison(folders, out)
    print(f"report in {out}/ ({written['markdown'].name}, {written['html'].name}, plots/)")
    from .evals._share import training_card, write_share_report

    if len(folders) > 1 and all(training_card(folder) is not None for folder in folders):
        # Models made by `skillgap train-tiny`: also the gap against their direct-data share.
        share = write_share_report(folders, out)
        print(f"gap against the direct-format training share: {share['markdown']}")
    return 0


def _skills(args: argparse.Namespace) -> int:
    from .skills import list_skills

    for skill in list_skills():
        print(f"{skill.modality:>6}  {skill.signature()}")
    return 0


def _draw(args: argparse.Namespace) -> int:
    from .evals import composition
    from .graphs import strategy

    if args.strategy == "routed":
        from .graphs._routed import routed
        from .routers import FallbackRouter, load_router

        router = load_router(Path(args.router)) if args.router else FallbackRouter()
        print(routed(composition(args.task), router).draw())
        return 0
    if args.router:
        raise ValueError("--router goes with the routed strategy: skillgap draw routed --router FILE")
    print(strategy(args.strategy, composition(args.task)).draw())
    return 0


def _route_train(args: argparse.Namespace) -> int:
    from .routers import format_simulation, load_run_rows, save_router, train_router, trained_on

    run, out = Path(args.run), Path(args.out)
    rows = load_run_rows(run, require=("direct", args.escalate_to))
    router = train_router(args.router, rows, name=args.name or out.stem, features=args.features,
                          escalate_to=args.escalate_to, max_cost_ratio=args.max_cost_ratio,
                          metric=args.cost)
    provenance = trained_on(run, rows, router)
    save_router(router, out, trained_on=provenance)
    print(f"{args.router} router {router.name!r} trained on {len(rows)} samples of {run}")
    print("on its training samples (not held out):")
    print(format_simulation(provenance.metrics))
    print(f"saved to {out}; evaluate it on held-out samples, e.g.: "
          f"skillgap eval --seed OTHER --strategies direct,cascaded,routed:{out}")
    return 0


def _route_eval(args: argparse.Namespace) -> int:
    from .routers import check_no_overlap, format_simulation, load_run_rows, read_router_file, simulate

    run, path = Path(args.run), Path(args.router)
    file = read_router_file(path)
    router = file.build()
    rows = load_run_rows(run, require=("direct", "cascaded"))
    check_no_overlap(file, [row.key for row in rows], where=f"run {run}")
    print(f"router {router.name!r} replayed on {len(rows)} held-out samples of {run}:")
    print(format_simulation(simulate(router, rows)))
    return 0


def _train_tiny(args: argparse.Namespace) -> int:
    from .backends._tiny_training import TrainConfig, train_tiny

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


def _serve(args: argparse.Namespace) -> int:
    from .backends import load_backend
    from .backends._server import base_url, bind, create_app, run_server

    options: dict[str, object] = {"max_batch_size": args.batch_size}
    if args.backend == "transformers" and args.device:
        options["device"] = args.device
    backend = load_backend(args.backend, args.model, **options)
    load = getattr(backend, "load", None)
    if callable(load):
        load()  # a model that cannot load fails here, not on the first request
    name = args.served_model_name or args.model or ("skillgap-tiny" if args.backend == "transformers"
                                                    else args.backend)
    app = create_app(backend, name, max_image_bytes=int(args.max_image_mb * 2**20))
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"skillgap serve: {name} ({args.backend}) at {base_url(sock)}", flush=True)
    try:
        run_server(app, sock, log_level=args.log_level, access_log=args.log_level in ("debug", "info"))
    finally:
        sock.close()
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
    ev.add_argument("--backend", default="transformers", choices=["transformers", "openai", "mock"],
                    help="openai: a model served over HTTP (vLLM, SGLang, llama.cpp, TGI, "
                         "skillgap serve); API key from $SKILLGAP_API_KEY or $OPENAI_API_KEY")
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
    ev.add_argument("--base-url", default=None, metavar="URL",
                    help="--backend openai: the API root (default: $OPENAI_BASE_URL, else "
                         "http://127.0.0.1:8000/v1)")
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
                         "or jsonl:PATH (one span per line)")
    ev.add_argument("--trace-project", default=None, metavar="NAME",
                    help="Phoenix project of the spans (default $PHOENIX_PROJECT_NAME or skillgap)")
    ev.add_argument("--trace-redact-images", action="store_true",
                    help="put no image data in spans")
    ev.add_argument("--trace-image-max-chars", type=int, default=None, metavar="N",
                    help="cut image data URIs in spans to N characters (default 16384)")
    ev.set_defaults(func=_eval)

    rp = sub.add_parser("report", help="render markdown + HTML reports of runs, side by side")
    rp.add_argument("dirs", nargs="+", metavar="DIR", help="run folders (each with samples.jsonl)")
    rp.add_argument("--out", default=None,
                    help="output folder (default: the run folder for one run, runs/compare for several)")
    rp.set_defaults(func=_report)

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
    tr.add_argument("--tasks", default="rendered_text,counting,cards")
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

    sv = sub.add_parser(
        "serve", help="serve a local model through an OpenAI-compatible HTTP API",
        description="Serve a local model (default: the embedded tiny model) at /v1/chat/completions "
                    "and /v1/models; concurrent requests share the same dynamic batching as "
                    "in-process runs. Evaluate it with: skillgap eval --backend openai --base-url URL",
    )
    sv.add_argument("--model", default=None,
                    help="hub id or local folder (default: the embedded tiny model)")
    sv.add_argument("--backend", default="transformers", choices=["transformers", "mock"])
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    sv.add_argument("--served-model-name", default=None,
                    help="the name clients ask for (default: --model, or skillgap-tiny)")
    sv.add_argument("--batch-size", type=int, default=32, help="most requests in one model call")
    sv.add_argument("--device", default=None)
    sv.add_argument("--max-image-mb", type=float, default=20.0, help="largest accepted image")
    sv.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sv.set_defaults(func=_serve)

    tc = sub.add_parser("trace", help="read traces written with --trace jsonl:PATH")
    trace_sub = tc.add_subparsers(dest="trace_command", required=True)
    ts = trace_sub.add_parser("summarize", help="model calls per strategy and skill: counts, "
                                                "latency percentiles, tokens")
    ts.add_argument("file", metavar="FILE.jsonl")
    ts.set_defaults(func=_trace_summarize)

    sk = sub.add_parser("skills", help="list registered skills")
    sk.set_defaults(func=_skills)

    dr = sub.add_parser("draw", help="print a strategy's graph as Mermaid")
    dr.add_argument("strategy", choices=["direct", "cascaded", "cot", "routed"])
    dr.add_argument("--task", default="rendered_text")
    dr.add_argument("--router", default=None, metavar="ROUTER_FILE",
                    help="routed: the router file (default: an untrained fallback router)")
    dr.set_defaults(func=_draw)

    ro = sub.add_parser("route", help="train routers on a run log, replay them on another run")
    route_sub = ro.add_subparsers(dest="route_command", required=True)
    rt = route_sub.add_parser(
        "train", help="train a router on a finished run (one that ran direct and cascaded)",
        description="Fit a router on a run's samples.jsonl and calibrate its thresholds there: the "
                    "most accurate within --max-cost-ratio x always-cascaded cost. Evaluate it on "
                    "other samples: skillgap eval --seed OTHER --strategies ...,routed:ROUTER_FILE",
    )
    rt.add_argument("--run", required=True, metavar="DIR", help="the training run folder")
    rt.add_argument("--router", required=True, choices=["learned", "fallback", "rule", "oracle"])
    rt.add_argument("--out", required=True, metavar="ROUTER_FILE", help="where to write it (JSON)")
    rt.add_argument("--name", default=None, help="the router's name (default: the file's stem)")
    rt.add_argument("--features", default="direct", choices=["direct", "pre"],
                    help="learned: 'direct' probes the direct call first and uses its answer "
                         "log-probability; 'pre' decides before any call (task, question, image stats)")
    rt.add_argument("--escalate-to", default="cascaded", choices=["cascaded", "cot"])
    rt.add_argument("--max-cost-ratio", type=float, default=0.75,
                    help="threshold calibration budget, relative to always-cascaded (default 0.75)")
    rt.add_argument("--cost", default="calls", choices=["calls", "tokens"],
                    help="the cost the budget counts: model calls or generated tokens")
    rt.set_defaults(func=_route_train)
    rv = route_sub.add_parser(
        "eval", help="replay a router on another run's records (no model calls)",
        description="Replay a router on a run that executed direct and cascaded (and what else it "
                    "may choose): accuracy, share of the gap closed and cost per task. Samples it "
                    "was trained on are refused.",
    )
    rv.add_argument("--run", required=True, metavar="DIR")
    rv.add_argument("--router", required=True, metavar="ROUTER_FILE")
    rv.set_defaults(func=_route_eval)
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

