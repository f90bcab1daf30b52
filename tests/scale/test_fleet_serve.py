"""Three ``skillgap serve`` processes of the embedded model as a fleet; one is killed mid-eval.

Every (sample, strategy) pair must be recorded exactly once with the predictions of an in-process
run, and a rerun on the surviving endpoints must resume to the same log (nothing left to run).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
from conftest import CONFIG, assert_same_predictions, by_key, run_killing

from skillgap.backends import FleetBackend
from skillgap.evals import SampleRecord, run_eval
from skillgap.serve import ServeProcess, serve_process

pytestmark = pytest.mark.slow


@pytest.fixture
def three_servers(tiny_model_path: Path, tiny_model_cache: Path) -> Iterator[list[ServeProcess]]:
    env = {"SKILLGAP_CACHE": str(tiny_model_cache), "HF_HUB_OFFLINE": "1"}
    args = ("--model", str(tiny_model_path), "--served-model-name", "tiny", "--log-level", "warning",
            "--batch-size", "8")
    # Started side by side (three model loads at once on a busy 2-core machine); each one that
    # started is stopped when the test ends, whether or not the others did.
    with ExitStack() as stack:
        with ThreadPoolExecutor(3) as pool:
            servers = list(pool.map(
                lambda _: stack.enter_context(serve_process(*args, env=env, start_timeout_s=300)),
                range(3)))
        yield servers


def test_a_fleet_with_one_server_killed_mid_eval_records_every_pair_once_as_in_process(
    three_servers: list[ServeProcess],
    in_process_records: dict[tuple[str, str, str], SampleRecord], tmp_path: Path,
) -> None:
    urls = [server.url for server in three_servers]
    victim_url, victim = three_servers[0].url, three_servers[0].process
    fleet = FleetBackend.connect(urls)

    def kill_after_first_answer() -> bool:
        if fleet.status()[0]["served"] < 1:
            return False
        victim.send_signal(signal.SIGKILL)
        return True

    out = tmp_path / "fleet"
    assert run_killing(fleet, out, kill_after_first_answer), "the run ended before the kill"
    assert victim.wait(timeout=30) == -signal.SIGKILL
    records = by_key(out)
    assert_same_predictions(records, in_process_records)
    served = {url for record in records.values() for url in (record.served_by or {}).values()}
    assert victim_url in served and len(served) >= 2, served

    before = (out / "samples.jsonl").read_bytes()
    survivors = FleetBackend.connect(urls[1:])
    run_eval(CONFIG, survivors, out, show_progress=False)
    assert (out / "samples.jsonl").read_bytes() == before, "a finished run was not resumed exactly"
