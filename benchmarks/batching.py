"""Dynamic batching: the same eval on the embedded tiny model with batches of 32 vs batches of 1.

64 counting samples through the cascaded strategy (up to 128 model calls: a visual
answer that does not parse skips its textual call), run by the eval runner (``run_samples``: every
sample's graph, concurrently, into a fresh record log; the summary and report, which cost the same
either way, are left out) once with ``max_batch_size=32`` and once with ``max_batch_size=1``;
rounds alternate the two. The printed ratio is the median of per-round throughput ratios
(batched / unbatched). Both backends answer identically (greedy decoding), which is checked.

    python benchmarks/batching.py [--n 64] [--rounds 3] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from skillgap.backends import load_backend
from skillgap.backends._types import Backend
from skillgap.evals import EvalConfig, load_samples, read_records, run_samples
from skillgap.evals._records import RecordLog


def timed_run(
    config: EvalConfig, backend: Backend, root: Path, name: str
) -> tuple[float, int, list[str]]:
    """Seconds, model calls made, and every record's raw output in key order."""
    samples = load_samples(config)
    out = root / f"{name}.jsonl"
    log = RecordLog(out)
    started = time.perf_counter()
    try:
        asyncio.run(run_samples(samples, backend, log, config))
    finally:
        log.close()
    elapsed = time.perf_counter() - started
    records = sorted(read_records(out), key=lambda r: r.key())
    return elapsed, sum(r.calls for r in records), [f"{r.key()}={r.raw}" for r in records]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--task", default="counting")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="the embedded skillgap model is untrained")

    config = EvalConfig(tasks=[args.task], strategies=["cascaded"], skills=False, n=args.n,
                        seed=4242)
    batched = load_backend("transformers", max_batch_size=args.batch_size)
    single = load_backend("transformers", max_batch_size=1)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        warm = config.model_copy(update={"n": 2})
        timed_run(warm, batched, root, "warm-batched")  # model load, constraint compilation
        timed_run(warm, single, root, "warm-single")
        ratios = []
        for round_ in range(args.rounds):
            batched_s, calls, batched_out = timed_run(config, batched, root, f"batched-{round_}")
            single_s, _, single_out = timed_run(config, single, root, f"single-{round_}")
            if batched_out != single_out:
                print(f"warning: outputs differ between batch sizes in round {round_}")
            ratios.append(single_s / batched_s)  # throughput ratio = inverse time ratio
            print(f"round {round_}: batch {args.batch_size}: {batched_s:.2f}s "
                  f"({calls / batched_s:.1f} calls/s)  batch 1: {single_s:.2f}s "
                  f"({calls / single_s:.1f} calls/s)  ratio {ratios[-1]:.2f}")
    print(f"batching ratio: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
