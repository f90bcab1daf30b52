"""``skillgap serve`` as a real subprocess on 127.0.0.1 (port 0), for fuzzing and load tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LiveServer:
    def __init__(self, process: subprocess.Popen[str], url: str, output: list[str]):
        self.process, self.url, self.output = process, url, output

    def peak_rss_mib(self) -> float:
        """The server process's peak resident memory so far (``VmHWM``), in MiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        assert match, status
        return int(match.group(1)) / 1024


@contextmanager
def live_serve(*args: str, api_key: str | None = None) -> Iterator[LiveServer]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if api_key:
        env["SKILLGAP_SERVE_API_KEY"] = api_key
    process = subprocess.Popen(
        [sys.executable, "-m", "skillgap.cli", "serve", "--port", "0", "--log-level", "info", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    output: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # keep draining, so the server never blocks on a full pipe
            output.append(line)
            if " at http://" in line:
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not found.is_set() and process.poll() is None and time.monotonic() < deadline:
            found.wait(0.1)
        assert found.is_set(), "".join(output)
        url = re.search(r"at (http://\S+/v1)", "".join(output))
        assert url, "".join(output)
        yield LiveServer(process, url.group(1), output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        reader.join(timeout=5)
