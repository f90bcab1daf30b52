"""``skillgap serve`` as a real subprocess on 127.0.0.1 (port 0), for fuzzing and load tests."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from skillgap.serve import serve_process


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
    env = {"SKILLGAP_SERVE_API_KEY": api_key} if api_key else None
    with serve_process("--log-level", "info", *args, env=env, start_timeout_s=90) as server:
        yield LiveServer(server.process, server.url, server.output)
