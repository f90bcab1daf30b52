"""examples/extending/my_strategy.py: a strategy in one file runs end to end through evaluate()."""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest

import skillgap as sg
from skillgap.backends import GenerationRequest, MockBackend
from skillgap.evals import read_records
from skillgap.graphs.strategies import cost_order, get_strategy, strategy_names, unregister_strategy
from skillgap.tasks import Sample, generate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "extending" / "my_strategy.py"


@pytest.fixture
def hinted() -> Iterator[None]:
    runpy.run_path(str(EXAMPLE))  # not as __main__: only the decorator runs
    try:
        yield
    finally:
        unregister_strategy("hinted")


def _backend(samples: list[Sample]) -> MockBackend:
    """Reads perfectly; the hinted step is right only when its prompt carries the reading."""
    labels = {(s.task, s.id): s for s in samples}

    def answer(request: GenerationRequest) -> str:
        sample = labels[(request.metadata["task"], request.metadata["sample_id"])]
        skill = request.metadata["skill"]
        if skill == "list_objects":
            return sample.intermediate or ""
        if skill.endswith(".hinted"):
            return sample.answer if f"shows {sample.intermediate}." in request.messages[0].text else "-1"
        return "-1"  # never a count

    return MockBackend(handler=answer)


def test_the_example_strategy_is_registered_and_evaluated(hinted: None, tmp_path: Path) -> None:
    found = get_strategy("hinted")
    assert (found.cost_rank, found.judged_on, found.measures) == (40, "answer", "composition")
    assert "hinted" in strategy_names() and cost_order()[-1] == "hinted"
    samples = generate("counting", 4, seed=11)
    result = sg.evaluate("counting", backend=_backend(samples), strategies=["direct", "hinted"], n=4,
                         seed=11, layout="grid", skills=False, out=tmp_path / "run", report=False,
                         show_progress=False)
    stats = result.summary.tasks["counting"].strategies
    assert list(stats) == ["direct", "hinted"]
    assert stats["hinted"].accuracy == 1.0 and stats["direct"].accuracy == 0.0
    records = [r for r in read_records(tmp_path / "run") if r.strategy == "hinted"]
    assert len(records) == 4 and all(r.calls == 2 and r.intermediate_correct for r in records)


def test_an_unregistered_strategy_is_refused_naming_the_registered_ones() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'hinted'; choose one of: direct, cascaded"):
        get_strategy("hinted")


def test_the_readme_shows_the_example_strategy_verbatim() -> None:
    code = EXAMPLE.read_text(encoding="utf-8").split('"""\n\n', 1)[1].split("\n\n\nif __name__")[0]
    readme = (EXAMPLE.parents[2] / "README.md").read_text(encoding="utf-8")
    assert code.split("\n\n\n", 1)[1] in readme  # the README leaves out the example's imports
