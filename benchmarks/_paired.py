"""Shared by the throughput benchmarks: the same eval on two backends, rounds alternating.

Each run goes through the eval runner (``run_samples``: every sample's graph, concurrently, into a
fresh record log); the summary and report, which cost the same on any backend, are left out.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from skillgap.backends._types import Backend
from skillgap.evals import EvalConfig, load_samples, read_records, run_samples
from skillgap.evals._records import RecordLog


def timed_run(config: EvalConfig, backend: Backend, out: Path) -> tuple[float, int, list[str]]:
    """Seconds, model calls made, and every record's raw output in key order."""
    samples = load_samples(config)
    log = RecordLog(out)
    started = time.perf_counter()
    try:
        asyncio.run(run_samples(samples, backend, log, config))
    finally:
        log.close()
    elapsed = time.perf_counter() - started
    records = sorted(read_records(out), key=lambda r: r.key())
    return elapsed, sum(r.calls for r in records), [f"{r.key()}={r.raw}" for r in records]


def paired_ratio(config: EvalConfig, subject: tuple[str, Backend], baseline: tuple[str, Backend],
                 rounds: int) -> float:
    """Median over rounds of subject throughput / baseline throughput, after one warm-up each
    (model load, constraint compilation); warns when the two answer differently."""
    (subject_name, subject_backend), (baseline_name, baseline_backend) = subject, baseline
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        warm = config.model_copy(update={"n": 2})
        timed_run(warm, subject_backend, root / "warm-subject.jsonl")
        timed_run(warm, baseline_backend, root / "warm-baseline.jsonl")
        ratios = []
        for round_ in range(rounds):
            subject_s, calls, subject_out = timed_run(config, subject_backend, root / f"s{round_}.jsonl")
            baseline_s, _, baseline_out = timed_run(config, baseline_backend, root / f"b{round_}.jsonl")
            if subject_out != baseline_out:
                print(f"warning: {subject_name} and {baseline_name} answered differently in round {round_}")
            ratios.append(baseline_s / subject_s)  # throughput ratio = inverse time ratio
            print(f"round {round_}: {subject_name} {subject_s:.2f}s ({calls / subject_s:.1f} calls/s)  "
                  f"{baseline_name} {baseline_s:.2f}s ({calls / baseline_s:.1f} calls/s)  "
                  f"ratio {ratios[-1]:.2f}")
    return statistics.median(ratios)
