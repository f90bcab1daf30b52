"""Options of ``skillgap eval`` that spread model calls: a fleet of endpoints, or Ray replicas."""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from ..backends import Backend


def add_arguments(ev: argparse.ArgumentParser) -> None:
    group = ev.add_argument_group(
        "scaling out",
        "--base-url with several URLs (comma-separated, or a file of them: 'URL [CONCURRENCY]' a "
        "line) evaluates over a fleet of OpenAI-compatible servers of one model; --ray runs model "
        "replicas as Ray actors. Either way this process keeps the graphs, the log and the report.",
    )
    group.add_argument("--ray", nargs="?", const="local", default=None, metavar="auto|ADDRESS",
                       help="run --replicas copies of the --backend model as Ray actors: on the "
                            "cluster at ADDRESS, on the running one (auto: $RAY_ADDRESS or `ray start` "
                            "on this node), or, given no value, on one found or started here "
                            "(needs the ray extra: pip install 'skillgap[ray]')")
    group.add_argument("--replicas", type=int, default=1, metavar="N",
                       help="--ray: model replicas (Ray actors), each with its own model copy")
    group.add_argument("--gpus-per-replica", type=float, default=0.0, metavar="G",
                       help="--ray: GPUs each replica reserves (1 for a transformers model on its "
                            "own GPU; fractions share one)")
    group.add_argument("--in-process", action="store_true",
                       help="load a local model (the transformers backend) in this process; by "
                            "default it loads in a worker process, beside the eval's own start")
    group.add_argument("--cpus-per-replica", type=float, default=1.0, metavar="C",
                       help="--ray: CPUs each replica reserves")


def build_backend(args: argparse.Namespace, options: dict[str, Any]) -> Backend:
    """The backend of ``args``: one model, a fleet of endpoints, or Ray replicas of a backend."""
    from ..backends import get_backend_factory, load_backend

    if args.ray is None:
        if args.replicas != 1 or args.gpus_per_replica:
            raise ValueError("--replicas and --gpus-per-replica need --ray")
        base_url = options.get("base_url")
        if args.backend == "openai" and isinstance(base_url, str):
            from ..backends._fleet import FleetBackend, parse_endpoints

            endpoints = parse_endpoints(base_url)
            if len(endpoints) > 1:
                rest = {key: value for key, value in options.items() if key != "base_url"}
                return FleetBackend.connect(endpoints, args.model, **rest)
        if not args.in_process and getattr(get_backend_factory(args.backend), "worker_process", False):
            from ..backends._process import ProcessBackend

            worker = ProcessBackend(args.backend, args.model, options)  # started first
            _in_background("skillgap-warm-imports", _warm_report_imports)
            # name and model_id are read-only properties there (known once the worker has built
            # its backend), which the protocol's plain attributes do not express.
            return cast("Backend", worker)
        return _loading(load_backend(args.backend, args.model, **options))
    from ..backends._ray import RayBackend

    return RayBackend(args.backend, args.model, options=options, replicas=args.replicas,
                      gpus_per_replica=args.gpus_per_replica, cpus_per_replica=args.cpus_per_replica,
                      address=None if args.ray == "local" else args.ray)


def _loading(backend: Backend) -> Backend:
    """Start loading a local model now, in the background, so that it overlaps the rest of the
    start (samples, graphs, LangGraph's import) instead of following it on the first call. A load
    that fails here is left for the first call to repeat and report."""
    load = getattr(backend, "load", None)
    if callable(load):
        _in_background("skillgap-model-load", load)
    return backend


def _warm_report_imports() -> None:
    """Import the report's plotting library (on a thread, while this process waits for the model
    worker) instead of after the last answer."""
    from ..reports import warm_imports

    warm_imports()


def _in_background(name: str, work: Callable[[], object]) -> None:
    """Run ``work`` on a daemon thread; its failure is not this start's (the step it speeds up
    does the work again and reports)."""
    def run() -> None:
        with contextlib.suppress(Exception):
            work()

    threading.Thread(target=run, name=name, daemon=True).start()
