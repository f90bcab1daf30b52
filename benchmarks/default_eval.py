"""The default ``skillgap eval`` end to end, against its 3-minute budget on a 2-core laptop-class CPU.

Runs ``skillgap eval`` exactly as the README's set-up command does (embedded model, defaults,
a fresh output folder and a fresh call cache) in a subprocess, so interpreter start-up, imports,
model loading, generation, every model call, summary, report and plots are all counted.
``default eval ratio`` is wall time / 180 s (at most 1.0 meets the target).

    python benchmarks/default_eval.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 180.0


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        command = [sys.executable, "-m", "skillgap.cli", "eval", "--out", str(root / "run"),
                   "--cache", str(root / "calls.sqlite"), "--quiet"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"skillgap eval failed ({done.returncode}):\n{done.stderr[-2000:]}")
    print(done.stdout.strip())
    print(f"default skillgap eval: {wall:.1f}s (budget {BUDGET_S:.0f}s, {os.cpu_count()} CPUs)")
    print(f"default eval ratio: {wall / BUDGET_S:.3f}")


if __name__ == "__main__":
    main()
