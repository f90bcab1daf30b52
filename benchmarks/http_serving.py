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
import os
import queue
import re
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from _paired import paired_ratio

from skillgap.backends import OpenAIBackend, load_backend
from skillgap.evals import EvalConfig


@contextmanager
def skillgap_serve(batch_size: int) -> Iterator[str]:
    """Start ``skillgap serve`` on a free port; yield its API root; stop it at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "skillgap.cli", "serve", "--port", "0", "--batch-size", str(batch_size),
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()],
                     daemon=True).start()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            found = re.search(r"at (http://\S+/v1)", line)
            if found:
                yield found.group(1)
                return
        raise RuntimeError("skillgap serve did not start")
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        if process.stdout is not None:
            process.stdout.close()


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
    with skillgap_serve(args.batch_size) as url:
        remote = OpenAIBackend.connect(url, concurrency=2 * args.batch_size)
        ratio = paired_ratio(config, ("http", remote), ("in-process", local), args.rounds)
    print(f"http ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
