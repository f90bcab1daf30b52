"""A router sees the same signals in use (the routed graph) as when it is trained (a run's log)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from router_helpers import gap_backend

from skillgap.evals import EvalConfig, load_samples, read_records, rows_from_records, run_eval
from skillgap.graphs import routed
from skillgap.routers import FallbackRouter, RouteDecision, Signals, signal_features
from skillgap.tasks import composition


class Recording(FallbackRouter):
    """A fallback router that keeps every signals object it was asked about."""

    def __init__(self) -> None:
        super().__init__(threshold=1.0)
        self.seen: list[Signals] = []

    def route(self, signals: Signals) -> RouteDecision:
        self.seen.append(signals)
        return super().route(signals)


def test_live_and_offline_signals_are_equal_for_the_same_samples(tmp_path: Path) -> None:
    # counting has a textual input (query) in its question, so the question is filled in too.
    config = EvalConfig(tasks=["counting"], strategies=["direct", "cascaded"], n=4, seed=7,
                        skills=False)
    samples = load_samples(config)
    backend = gap_backend(samples)
    run_eval(config, backend, tmp_path / "run", show_progress=False)
    offline = {row.sample_id: row for row in rows_from_records(read_records(tmp_path / "run"), samples)}

    router = Recording()
    graph = routed(composition("counting"), router)

    async def live() -> None:
        for sample in samples:
            await graph.arun({"image": sample.image, **sample.inputs}, backend,
                             metadata={"task": sample.task, "sample_id": sample.id})

    asyncio.run(live())
    assert len(router.seen) == len(samples) == len(offline)
    for seen in router.seen:
        assert seen.sample_id is not None
        trained_on = offline[seen.sample_id].signals_for(router)
        assert seen == trained_on
        assert "{" not in seen.question and seen.direct is not None and seen.image is not None
        assert signal_features(seen) == signal_features(trained_on)
    # Offline rows hold every strategy's outcome; a router sees only its own probe's.
    row = next(iter(offline.values()))
    assert set(row.signals.probes) == {"direct", "cascaded"}
    assert set(row.signals_for(router).probes) == {"direct"}
    assert row.signals_for(FallbackRouter()).probes.keys() == {"direct"}
