"""The fixed cost of a small run: a one-sample ``skillgap eval`` against loading the same model bare.

Both run as fresh processes, alternated, ``--repeats`` times each:

* bare: ``import transformers`` and ``from_pretrained`` of the embedded model's processor and model;
* eval: ``skillgap eval --n 1 --tasks counting --no-cache`` (direct, cascaded, CoT and both skills
  alone on one sample: five model calls, the summary, report and plots), which loads the model in
  a worker process beside its own start;
* in-process: the same with ``--in-process`` (model and eval share one process and one GIL), for
  comparison.

``startup ratio`` is the median of the per-round wall-time ratios eval / bare (target at most 1.3).
The worker gains wall time only where a second core is free; on a shared machine wall time swings
with the load, so the CPU-time ratios (user + system of each child and its worker) are printed as
well.

    python benchmarks/startup.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE = """
import sys
from transformers import AutoModelForImageTextToText, AutoProcessor
AutoProcessor.from_pretrained(sys.argv[1], local_files_only=True)
AutoModelForImageTextToText.from_pretrained(sys.argv[1], local_files_only=True)
"""


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one child process (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:4])}... failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from skillgap.backends import default_model_path

    model = str(default_model_path())
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    bare_walls: list[float] = []
    #: Per round, eval / bare: wall time and CPU time, for the eval with its worker and in process.
    walls: dict[str, list[float]] = {"eval": [], "in-process": []}
    cpus: dict[str, list[float]] = {"eval": [], "in-process": []}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            bare_wall, bare_cpu = _timed([sys.executable, "-c", BARE, model], env)
            line = [f"round {repeat + 1}: bare {bare_wall:.2f}s wall {bare_cpu:.2f}s cpu"]
            bare_walls.append(bare_wall)
            for name, extra in (("eval", []), ("in-process", ["--in-process"])):
                out = Path(folder) / f"{name}{repeat}"
                wall, cpu = _timed(
                    [sys.executable, "-m", "skillgap.cli", "eval", "--n", "1", "--tasks", "counting",
                     "--no-cache", "--quiet", "--out", str(out), *extra], env)
                line.append(f"{name} {wall:.2f}s wall {cpu:.2f}s cpu")
                walls[name].append(wall / bare_wall)
                cpus[name].append(cpu / bare_cpu)
            print("; ".join(line), flush=True)
    print(f"bare load median {statistics.median(bare_walls):.2f}s "
          f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    print(f"in-process eval / bare: {statistics.median(walls['in-process']):.3f} wall, "
          f"{statistics.median(cpus['in-process']):.3f} cpu")
    print(f"startup cpu ratio: {statistics.median(cpus['eval']):.3f}")
    print(f"startup ratio: {statistics.median(walls['eval']):.3f}")


if __name__ == "__main__":
    main()
