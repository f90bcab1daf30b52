"""Routed strategies in an eval: ``routed:ROUTER_FILE`` steps and the held-out check (the summary's
router section is in ``_summary_routers``).

A routed step is named ``routed:NAME`` with ``EvalConfig.routers[NAME]`` the router file, or
``routed:PATH`` directly. Its records carry the decision (``record.route``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..tasks import composition
from ._records import RouteRecord

if TYPE_CHECKING:
    from ..graphs._compiled import GraphResult
    from ..graphs._routed import RoutedGraph
    from ..tasks._sample import Sample
    from ._runner import EvalConfig

PREFIX = "routed:"


def is_routed(step: str) -> bool:
    return step.startswith(PREFIX)


def router_path(config: EvalConfig, step: str) -> Path:
    name = step[len(PREFIX):]
    return Path(config.routers.get(name, name))


def routed_steps(config: EvalConfig) -> list[str]:
    return [step for step in config.strategies if is_routed(step)]


def check_routed(config: EvalConfig) -> None:
    """Every routed step's file must load, and Tesseract must be there if a router may pick it."""
    from ..backends._tesseract import INSTALL_HINT, tesseract_available
    from ..routers._files import load_router

    for step in routed_steps(config):
        router = load_router(router_path(config, step))
        wants_ocr = any("tesseract" in router.choices_for(task) for task in config.tasks)
        if wants_ocr and not tesseract_available():
            raise ValueError(f"{step}: router {router.name!r} may choose the tesseract executor. "
                             f"{INSTALL_HINT}")


def routed_graphs(task: str, config: EvalConfig) -> dict[str, RoutedGraph]:
    from ..graphs._routed import routed
    from ..routers._files import load_router

    comp = composition(task)
    return {step: routed(comp, load_router(router_path(config, step))) for step in routed_steps(config)}


def check_held_out(config: EvalConfig, samples: Sequence[Sample]) -> None:
    """Refuse to evaluate a router on samples it was trained on (``RouterOverlapError``)."""
    from ..routers._files import check_no_overlap, read_router_file

    keys = [f"{sample.task}/{sample.id}" for sample in samples]
    for step in routed_steps(config):
        path = router_path(config, step)
        check_no_overlap(read_router_file(path), keys, where=f"this eval ({step})")


def route_record(result: GraphResult) -> RouteRecord | None:
    """What a routed result's record keeps of the decision (None for other strategies)."""
    route = getattr(result, "route", None)
    if route is None:
        return None
    return RouteRecord(router=route.router, choice=route.choice, score=route.score,
                       probe=getattr(result, "probe", None))


def resolve_routed(strategies: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Turn ``routed:PATH`` steps into ``routed:NAME`` (NAME from the router file) and the
    ``EvalConfig.routers`` entries that map each NAME to its absolute path."""
    from ..routers._files import read_router_file

    named: list[str] = []
    paths: dict[str, str] = {}
    for step in strategies:
        if not is_routed(step):
            named.append(step)
            continue
        path = Path(step[len(PREFIX):]).expanduser().resolve()
        record = read_router_file(path).router
        name = str(record.get("name") or record.get("kind") or path.stem)
        if name in paths and paths[name] != str(path):
            name = path.stem if path.stem not in paths else f"{name}-{len(paths)}"
        paths[name] = str(path)
        named.append(PREFIX + name)
    return named, paths
