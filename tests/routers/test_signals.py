"""A router sees the same signals in use (a routed step of an eval) as when it is trained (rows
rebuilt from that run's log)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from router_helpers import gap_backend

from skillgap.evals import EvalConfig, load_samples, read_records, rows_from_records, run_eval
from skillgap.routers import (
    ROUTER_KINDS,
    FallbackRouter,
    RouteDecision,
    Signals,
    register_router,
    save_router,
    signal_features,
)

SEEN: list[Signals] = []


class Recording(FallbackRouter):
    """A fallback router that keeps every signals object it was asked about."""

    def route(self, signals: Signals) -> RouteDecision:
        SEEN.append(signals)
        return super().route(signals)


@pytest.fixture
def recording() -> Iterator[type[Recording]]:
    register_router("test_recording")(Recording)
    SEEN.clear()
    try:
        yield Recording
    finally:
        ROUTER_KINDS.pop("test_recording", None)


def test_live_and_offline_signals_are_equal_for_the_same_samples(
    recording: type[Recording], tmp_path: Path
) -> None:
    # counting fills its question from a textual input; the last sample asks its own question
    # (as a dataset row may), braces and all.
    config = EvalConfig(tasks=["counting"], strategies=["direct", "cascaded", "routed:rec"], n=4,
                        seed=7, skills=False,
                        routers={"rec": str(save_router(recording(threshold=1.0), tmp_path / "r.json"))})
    samples = load_samples(config)
    samples[-1] = samples[-1].model_copy(update={"question": "Tally the {query} things, please."})
    run_eval(config, gap_backend(samples), tmp_path / "run", samples=samples, show_progress=False)
    offline = {row.sample_id: row for row in rows_from_records(read_records(tmp_path / "run"), samples)}

    router = recording(threshold=1.0)
    assert len(SEEN) == len(samples) == len(offline)
    for seen in SEEN:
        assert seen.sample_id is not None
        trained_on = offline[seen.sample_id].signals_for(router)
        assert seen == trained_on
        assert seen.direct is not None and seen.image is not None
        assert signal_features(seen) == signal_features(trained_on)
    questions: Mapping[str, Any] = {s.sample_id: s.question for s in SEEN}
    assert questions[samples[-1].id] == "Tally the {query} things, please."
    assert all("{" not in q for sid, q in questions.items() if sid != samples[-1].id)
    # Offline rows hold every strategy's outcome; a router sees only its own probe's.
    row = offline[samples[0].id]
    assert set(row.signals.probes) == {"direct", "cascaded"}
    assert set(row.signals_for(router).probes) == {"direct"}
