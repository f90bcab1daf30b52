"""Shared by the scale-out tests: the eval they all run, and its records from one in-process model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from skillgap.backends import Backend
from skillgap.evals import EvalConfig, SampleRecord, read_records, run_eval

#: Small on purpose (2 shared cores): one task, two strategies. The cascade's second calls wait on
#: its first, so calls are still to come when a replica is killed after its first answer.
CONFIG = EvalConfig(tasks=["counting"], strategies=["direct", "cascaded"], skills=False, n=4, seed=7,
                    layout="grid", concurrency=64)
TOTAL = 4 * 2


@pytest.fixture(scope="session")
def in_process_records(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory
                       ) -> dict[tuple[str, str, str], SampleRecord]:
    from skillgap.backends._transformers import TransformersBackend

    out = tmp_path_factory.mktemp("in-process")
    run_eval(CONFIG, TransformersBackend(tiny_model_path, max_batch_size=8), out, show_progress=False)
    return by_key(out)


def by_key(out: Path) -> dict[tuple[str, str, str], SampleRecord]:
    """Records of ``out`` by (task, sample, strategy); fails on a duplicate or a missing pair."""
    records = read_records(out)
    keyed = {record.key(): record for record in records}
    assert len(keyed) == len(records), "a pair was recorded twice"
    assert len(keyed) == TOTAL, f"{TOTAL - len(keyed)} pairs missing"
    return keyed


def assert_same_predictions(got: dict[tuple[str, str, str], SampleRecord],
                            want: dict[tuple[str, str, str], SampleRecord]) -> None:
    assert set(got) == set(want)
    for key, record in want.items():
        other = got[key]
        assert other.error is None, (key, other.error)
        assert (other.raw, other.prediction, other.correct, other.intermediate) == (
            record.raw, record.prediction, record.correct, record.intermediate), key


def run_killing(backend: Backend, out: Path, kill: Callable[[], bool], *, timeout_s: float = 240.0) -> bool:
    """Run the eval in a thread and call ``kill`` (until it returns True) while the run goes on;
    returns whether the kill happened before the run ended."""
    failure: list[BaseException] = []

    def work() -> None:
        try:
            run_eval(CONFIG, backend, out, show_progress=False)
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    killed_mid_run = False
    deadline = time.monotonic() + timeout_s
    while worker.is_alive() and not killed_mid_run and time.monotonic() < deadline:
        if kill():
            # Mid-run means pairs were still to be recorded once the replica was gone.
            log = out / "samples.jsonl"
            killed_mid_run = len(log.read_text().splitlines() if log.exists() else []) < TOTAL
            break
        time.sleep(0.01)
    worker.join(max(0.0, deadline - time.monotonic()))
    assert not worker.is_alive(), "the eval did not finish in time"
    if failure:
        raise failure[0]
    return killed_mid_run
