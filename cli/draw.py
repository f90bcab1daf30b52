"""``skillgap draw``: print a strategy's graph as Mermaid."""

from __future__ import annotations

import argparse
from pathlib import Path


def _draw(args: argparse.Namespace) -> int:
    from ..graphs import strategy
    from ..tasks import resolve_task

    composition = resolve_task(args.task).composition

    if args.strategy == "routed":
        from ..graphs._routed import routed
        from ..routers import FallbackRouter, load_router

        router = load_router(Path(args.router)) if args.router else FallbackRouter()
        print(routed(composition, router).draw())
        return 0
    if args.router:
        raise ValueError("--router goes with the routed strategy: skillgap draw routed --router FILE")
    print(strategy(args.strategy, composition).draw())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dr = sub.add_parser("draw", help="print a strategy's graph as Mermaid")
    from ..graphs.strategies import strategy_names

    dr.add_argument("strategy", choices=[*strategy_names(None), "routed"],
                    help="a registered strategy, or routed (a router's decision and branches)")
    dr.add_argument("--task", default="rendered_text", metavar="TASK",
                    help="a registered task, or FILE.py@NAME (default: %(default)s)")
    dr.add_argument("--router", default=None, metavar="ROUTER_FILE",
                    help="routed: the router file (default: an untrained fallback router)")
    dr.set_defaults(func=_draw)
