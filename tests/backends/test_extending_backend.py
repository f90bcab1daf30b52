"""examples/extending/my_backend.py: a backend in one file runs an eval end to end."""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillgap.backends import _registry, backend_names, load_backend
from skillgap.cli import main
from skillgap.evals import read_records

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "extending" / "my_backend.py"


@pytest.fixture
def sevens() -> Iterator[None]:
    runpy.run_path(str(EXAMPLE))  # not as __main__: only the decorator runs
    try:
        yield
    finally:
        _registry._factories.pop("sevens", None)


def test_the_example_backend_runs_skillgap_eval(sevens: None, tmp_path: Path) -> None:
    assert "sevens" in backend_names()
    assert load_backend("sevens").describe() == {"backend": "sevens", "model": "seven-1"}
    out = tmp_path / "run"
    code = main(["eval", "--backend", "sevens", "--tasks", "counting", "--n", "2", "--strategies",
                 "direct", "--no-skills", "--no-cache", "--quiet", "--out", str(out)])
    assert code == 0
    records = read_records(out)
    assert len(records) == 2 and all(r.prediction == "7" and r.error is None for r in records)

