"""Scale-out: the same eval on 2 model replicas against 1, as Ray actors and as a fleet of endpoints.

48 counting samples through the cascaded strategy on the embedded tiny model, run by the eval
runner (``run_samples``; see ``_paired.py``), each replica with one compute thread
(``OMP_NUM_THREADS=1``):

* Ray: a local cluster, :class:`RayBackend` with 2 replicas against 1 (actors of the same class);
* fleet: 2 ``skillgap serve`` processes as a :class:`FleetBackend` against 1 of them.

Each printed ratio is the median over rounds of throughput(2 replicas) / throughput(1), after a
warm-up of each (model load, constraint compilation); answers are checked to be identical. The
target is >= 1.6 on 2 cores. The driver (graphs, HTTP, the log) shares those cores with the
replicas, so the ratio measures the whole system, not the model alone. The last line is the lower
of the two.

    python benchmarks/scale_out.py [--n 48] [--rounds 3] [--only ray|fleet]
"""

from __future__ import annotations

import argparse
import os
from contextlib import ExitStack

from _paired import paired_ratio

from skillgap.backends import FleetBackend, RayBackend, default_model_path
from skillgap.backends._ray import init_ray
from skillgap.evals import EvalConfig
from skillgap.serve import serve_process

# Each replica computes with one thread and never looks the model up on the (closed) hub.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def ray_ratio(config: EvalConfig, rounds: int, batch_size: int) -> float:
    import ray

    # Three actors live at once (2 + 1); only the ones of the backend being timed are busy.
    init_ray(num_cpus=3, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": WORKER_ENV})
    try:
        options = {"max_batch_size": batch_size}
        model = str(default_model_path())
        two = RayBackend("transformers", model, options=options, replicas=2)
        one = RayBackend("transformers", model, options=options, replicas=1)
        return paired_ratio(config, ("2 Ray replicas", two), ("1 Ray replica", one), rounds)
    finally:
        ray.shutdown()


def fleet_ratio(config: EvalConfig, rounds: int, batch_size: int) -> float:
    with ExitStack() as stack:
        servers = [stack.enter_context(serve_process("--batch-size", str(batch_size), "--log-level",
                                                     "warning", env=WORKER_ENV, start_timeout_s=300))
                   for _ in range(2)]
        urls = [server.url for server in servers]
        two = FleetBackend.connect(urls, concurrency=64)
        one = FleetBackend.connect(urls[:1], concurrency=64)
        return paired_ratio(config, ("2 endpoints", two), ("1 endpoint", one), rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--only", choices=["ray", "fleet"], default=None)
    args = parser.parse_args()
    config = EvalConfig(tasks=["counting"], strategies=["cascaded"], skills=False, n=args.n, layout="grid")
    ratios = []
    if args.only in (None, "ray"):
        ratios.append(ray_ratio(config, args.rounds, args.batch_size))
        print(f"ray ratio (2 vs 1 replicas): {ratios[-1]:.3f}", flush=True)
    if args.only in (None, "fleet"):
        ratios.append(fleet_ratio(config, args.rounds, args.batch_size))
        print(f"fleet ratio (2 vs 1 endpoints): {ratios[-1]:.3f}", flush=True)
    print(f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at the end)")
    print(f"scale_out ratio: {min(ratios):.3f}")


if __name__ == "__main__":
    main()
