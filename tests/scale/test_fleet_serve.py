"""Three ``skillgap serve`` processes of the embedded model as a fleet; one is killed mid-eval.

Every (sample, strategy) pair must be recorded exactly once with the predictions of an in-process
run, and a rerun on the surviving endpoints must resume to the same log (nothing left to run).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CONFIG, assert_same_predictions, by_key, run_killing

from skillgap.backends import FleetBackend
from skillgap.evals import SampleRecord, run_eval

pytestmark = pytest.mark.slow


Servers = list[tuple[str, "subprocess.Popen[str]"]]


@pytest.fixture
def three_servers(tiny_model_path: Path, tiny_model_cache: Path) -> Iterator[Servers]:
    env = {**os.environ, "SKILLGAP_CACHE": str(tiny_model_cache), "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    processes = [
        subprocess.Popen([sys.executable, "-m", "skillgap.cli", "serve", "--model", str(tiny_model_path),
                          "--port", "0", "--served-model-name", "tiny", "--log-level", "warning",
                          "--batch-size", "8"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for _ in range(3)
    ]
    lines: queue.Queue[tuple[int, str]] = queue.Queue()
    for index, process in enumerate(processes):
        threading.Thread(target=lambda i=index, p=process: [lines.put((i, line)) for line in p.stdout or ()],
                         daemon=True).start()
    try:
        urls: dict[int, str] = {}
        seen: list[str] = []
        deadline = time.monotonic() + 300  # three model loads at once on a busy 2-core machine
        while len(urls) < 3 and time.monotonic() < deadline:
            try:
                index, line = lines.get(timeout=1)
            except queue.Empty:
                assert all(p.poll() is None for p in processes), "a server exited:\n" + "".join(seen)
                continue
            seen.append(line)
            found = re.search(r"at (http://\S+/v1)", line)
            if found:
                urls[index] = found.group(1)
        assert len(urls) == 3, "the servers did not start:\n" + "".join(seen)
        yield [(urls[i], processes[i]) for i in range(3)]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()


def test_a_fleet_with_one_server_killed_mid_eval_records_every_pair_once_as_in_process(
    three_servers: Servers,
    in_process_records: dict[tuple[str, str, str], SampleRecord], tmp_path: Path,
) -> None:
    urls = [url for url, _ in three_servers]
    victim_url, victim = three_servers[0]
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
