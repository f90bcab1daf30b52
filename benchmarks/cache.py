"""Reruns: a default-size eval run cold, rerun as is, and rerun into a new folder on a warm cache.

Every run uses the embedded tiny model with the ``skillgap eval`` defaults (3 tasks × 50 samples,
direct/cascaded/cot and both skills alone, batches of 32), each with a freshly built backend as a
new process would have. Three times are measured side by side:

- first run (cold cache, empty folder);
- rerun of the finished eval: the same command on the same folder (every pair is already logged
  and the summary and report are up to date, so nothing is recomputed) — ``cache ratio`` is
  first / this;
- rerun into a new folder on the warm call cache: no model calls, but every graph, record,
  summary, report and plot is made again — printed as ``new-folder ratio``.

The model-call phase alone (``run_samples``, on a second cache file) is printed too.
Also prints the process's peak memory (``ru_maxrss``) after the first run, against a 2 GB target.

    python benchmarks/cache.py [--n 50]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

from skillgap.backends import CachedBackend, load_backend
from skillgap.evals import EvalConfig, load_samples, read_records, run_eval, run_samples
from skillgap.evals._records import RecordLog


def timed_run(config: EvalConfig, cache_file: Path, out: Path) -> tuple[float, CachedBackend]:
    started = time.perf_counter()
    backend = CachedBackend(load_backend("transformers", max_batch_size=32), cache_file)
    try:
        run_eval(config, backend, out, show_progress=False)
    finally:
        backend.close()
    return time.perf_counter() - started, backend


def timed_phase(config: EvalConfig, cache_file: Path, out: Path) -> float:
    """Only the model-call phase: every (sample, step) through its graph into a record log."""
    samples = load_samples(config)
    backend = CachedBackend(load_backend("transformers", max_batch_size=32), cache_file)
    log = RecordLog(out)
    started = time.perf_counter()
    try:
        asyncio.run(run_samples(samples, backend, log, config))
    finally:
        log.close()
        backend.close()
    return time.perf_counter() - started


def peak_gb() -> float:
    kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kilobytes / (1024**3 if sys.platform == "darwin" else 1024**2)  # bytes on macOS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="the embedded skillgap model is untrained")

    config = EvalConfig(n=args.n)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        cold_s, cold = timed_run(config, root / "calls.sqlite", root / "first")
        peak = peak_gb()
        again_s, _ = timed_run(config, root / "calls.sqlite", root / "first")
        warm_s, warm = timed_run(config, root / "calls.sqlite", root / "rerun")
        same = {r.key(): r.raw for r in read_records(root / "first")} == {
            r.key(): r.raw for r in read_records(root / "rerun")
        }
        cold_phase_s = timed_phase(config, root / "phase.sqlite", root / "phase-first.jsonl")
        warm_phase_s = timed_phase(config, root / "phase.sqlite", root / "phase-rerun.jsonl")
    print(f"first run: {cold_s:.2f}s ({cold.misses} model calls, {cold.hits} cache hits)")
    print(f"rerun of the finished eval (same folder): {again_s:.2f}s")
    print(f"rerun into a new folder, warm cache: {warm_s:.2f}s ({warm.misses} model calls, "
          f"{warm.hits} cache hits){'' if same else '  warning: records differ'}")
    print(f"new-folder ratio: {cold_s / warm_s:.1f}")
    print(f"model-call phase: first {cold_phase_s:.2f}s, rerun {warm_phase_s:.2f}s, "
          f"ratio {cold_phase_s / warm_phase_s:.1f}")
    print(f"peak memory of a default-size eval: {peak:.3f} GB (ru_maxrss)")
    print(f"memory ratio: {peak / 2:.3f}")
    print(f"cache ratio: {cold_s / again_s:.1f}")


if __name__ == "__main__":
    main()
