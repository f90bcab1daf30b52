"""HTTP serving: the same eval through ``skillgap serve`` (the openai backend) vs in-process.

48 counting samples through the cascaded strategy on the embedded tiny model, run by the eval
runner (``run_samples``, into fresh record logs; see ``_paired.py``): once against a ``skillgap
serve`` process on 127.0.0.1 (batch size 32, the client keeping up to 64 requests in flight) and
once in this process with the same batch size; rounds alternate the two. The printed ratio is
the median of per-round throughput ratios (HTTP / in-process; target >= 0.8). Both answer
identically (greedy decoding), which is checked.

    python benchmarks/http_serving.py [--n 48] [--rounds 3] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import warnings

from _paired import paired_ratio

from skillgap.backends import OpenAIBackend, load_backend
from skillgap.evals import EvalConfig
from skillgap.serve import serve_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--task", default="counting")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="the embedded skillgap model is untrained")

    config = EvalConfig(tasks=[args.task], strategies=["cascaded"], skills=False, n=args.n,
                        seed=4242, layout="grid")
    local = load_backend("transformers", max_batch_size=args.batch_size)
    import torch

    # The server computes with as many threads as the in-process model does here.
    threads = {"OMP_NUM_THREADS": str(torch.get_num_threads())}
    with serve_process("--batch-size", str(args.batch_size), "--log-level", "warning", env=threads,
                       start_timeout_s=300) as server:
        remote = OpenAIBackend.connect(server.url, concurrency=2 * args.batch_size)
        ratio = paired_ratio(config, ("http", remote), ("in-process", local), args.rounds)
    print(f"http ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
