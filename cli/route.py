"""``skillgap route``: train routers on a run log, replay them on another run."""

from __future__ import annotations

import argparse
from pathlib import Path


def _route_train(args: argparse.Namespace) -> int:
    from ..evals import format_simulation, load_run_rows, train_router, trained_on
    from ..routers import save_router

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
    from ..evals import format_simulation, load_run_rows, simulate
    from ..routers import check_no_overlap, read_router_file

    run, path = Path(args.run), Path(args.router)
    file = read_router_file(path)
    router = file.build()
    rows = load_run_rows(run, require=("direct", "cascaded"))
    check_no_overlap(file, [row.key for row in rows], where=f"run {run}")
    print(f"router {router.name!r} replayed on {len(rows)} held-out samples of {run}:")
    print(format_simulation(simulate(router, rows)))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ro = sub.add_parser("route", help="train routers on a run log, replay them on another run")
    route_sub = ro.add_subparsers(dest="route_command", required=True)
    rt = route_sub.add_parser(
        "train", help="train a router on a finished run (one that ran direct and cascaded)",
        description="Fit a router on a run's samples.jsonl and calibrate its thresholds there: the "
                    "most accurate within --max-cost-ratio x the cost of always escalating. Evaluate it on "
                    "other samples: skillgap eval --seed OTHER --strategies ...,routed:ROUTER_FILE",
    )
    rt.add_argument("--run", required=True, metavar="DIR", help="the training run folder")
    from ..graphs.strategies import strategy_names
    from ..routers import ThresholdRouter, trainable_kinds

    rt.add_argument("--router", required=True, choices=trainable_kinds(),
                    help="the router kind (every registered kind that can be trained)")
    rt.add_argument("--out", required=True, metavar="ROUTER_FILE", help="where to write it (JSON)")
    rt.add_argument("--name", default=None, help="the router's name (default: the file's stem)")
    rt.add_argument("--features", default="direct", choices=["direct", "pre"],
                    help="learned: 'direct' probes the direct call first and uses its answer "
                         "log-probability; 'pre' decides before any call (task, question, image stats); "
                         "cheapest: 'pre' only")
    rt.add_argument("--escalate-to", default="cascaded",
                    choices=[s for s in strategy_names() if s != ThresholdRouter.stay],
                    help=f"two-way routers: the strategy to escalate to from {ThresholdRouter.stay}")
    rt.add_argument("--max-cost-ratio", type=float, default=0.75,
                    help="threshold calibration budget, relative to always escalating (default 0.75)")
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
