"""examples/extending/my_router.py: a router in one file trains on a run and routes an eval."""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from router_helpers import gap_backend

import skillgap as sg
from skillgap.evals import EvalConfig, load_run_rows, load_samples, run_eval, train_router
from skillgap.routers import ROUTER_KINDS, load_router, router_kinds, save_router, trainable_kinds

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "extending" / "my_router.py"


@pytest.fixture
def busy() -> Iterator[Any]:
    example = runpy.run_path(str(EXAMPLE))  # not as __main__: only the decorator runs
    try:
        yield example["BusyRouter"]
    finally:
        ROUTER_KINDS.pop("busy", None)


def test_the_example_router_trains_saves_and_routes_an_eval(busy: Any, tmp_path: Path) -> None:
    assert "busy" in router_kinds() and "busy" in trainable_kinds()
    train = EvalConfig(tasks=["counting"], strategies=["direct", "cascaded"], n=5, seed=1, skills=False)
    run_eval(train, gap_backend(load_samples(train)), tmp_path / "train", show_progress=False)
    router = train_router("busy", load_run_rows(tmp_path / "train"), name="busy")
    assert isinstance(router, busy) and set(router.thresholds) == {"counting"}
    path = save_router(router, tmp_path / "busy.json")
    assert load_router(path).to_record() == router.to_record()

    held_out = load_samples(EvalConfig(tasks=["counting"], n=5, seed=2))
    result = sg.evaluate("counting", backend=gap_backend(held_out), n=5, seed=2, layout="grid",
                         strategies=["direct", "cascaded", "routed:busy"], routers={"busy": str(path)},
                         skills=False,
                         out=tmp_path / "eval", report=False, show_progress=False)
    stats = result.summary.tasks["counting"].routers["busy"]
    assert stats.n == 5 and set(stats.choices) <= {"direct", "cascaded"}
    assert sum(stats.choices.values()) == pytest.approx(1.0)


def test_the_readme_shows_the_example_router_verbatim() -> None:
    code = EXAMPLE.read_text(encoding="utf-8").split('"""\n\n', 1)[1].split("\n\n\nif __name__")[0]
    readme = (EXAMPLE.parents[2] / "README.md").read_text(encoding="utf-8")
    assert code.split("\n\n\n", 1)[1] in readme  # the README leaves out the example's imports
