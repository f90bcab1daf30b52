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
import warnings

from _paired import paired_ratio

from skillgap.backends import load_backend
from skillgap.evals import EvalConfig


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
    ratio = paired_ratio(config, (f"batch {args.batch_size}", batched), ("batch 1", single), args.rounds)
    print(f"batching ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
