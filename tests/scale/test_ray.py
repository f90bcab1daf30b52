"""Two Ray actors of the embedded model on a local 2-CPU cluster; one is killed mid-run.

Ray restarts it; the calls it had in flight are sent again. Every pair must be recorded exactly
once with the predictions of an in-process run, and the run resumes in process (same model, same
description) with nothing left to do.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CONFIG, assert_same_predictions, by_key, run_killing

from skillgap.backends._ray import init_ray
from skillgap.evals import SampleRecord, run_eval

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="the ray extra is not installed (make setup installs it)")


@pytest.fixture(scope="module")
def local_ray(tiny_model_cache: Path) -> Iterator[None]:
    # Workers inherit this process's environment when the local cluster starts.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workers = {"SKILLGAP_CACHE": str(tiny_model_cache), "OMP_NUM_THREADS": "1"}
    init_ray(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": workers})
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_replicas_with_one_killed_mid_run_record_every_pair_once_as_in_process(
    local_ray: None, tiny_model_path: Path,
    in_process_records: dict[tuple[str, str, str], SampleRecord], tmp_path: Path,
) -> None:
    from skillgap.backends import RayBackend
    from skillgap.backends._transformers import TransformersBackend

    backend = RayBackend("transformers", str(tiny_model_path), options={"max_batch_size": 8},
                         replicas=2, cpus_per_replica=1, max_restarts=2)
    try:
        victim: dict[str, Any] = ray.get(backend.actors[0].info.remote())

        def kill_after_first_answer() -> bool:
            if backend.status()[0]["served"] < 1:
                return False
            os.kill(victim["pid"], signal.SIGKILL)
            return True

        out = tmp_path / "ray"
        assert run_killing(backend, out, kill_after_first_answer), "the run ended before the kill"
        records = by_key(out)
        assert_same_predictions(records, in_process_records)
        served = {name for record in records.values() for name in (record.served_by or {}).values()}
        assert served == {"ray-replica-0", "ray-replica-1"}, served
        assert backend.status()[0]["failures"] >= 1, "the killed replica's calls did not fail over"
    finally:
        backend.close()

    before = (out / "samples.jsonl").read_bytes()
    run_eval(CONFIG, TransformersBackend(tiny_model_path, max_batch_size=8), out, show_progress=False)
    assert (out / "samples.jsonl").read_bytes() == before, "a finished run was not resumed exactly"
