"""``skillgap serve`` as a child process on 127.0.0.1: start it, wait for its URL, stop it.

Benchmarks and tests that need a real server (load, fuzzing, fleets) start it this one way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

_URL = re.compile(r"at (http://\S+/v1)")


@dataclass
class ServeProcess:
    """A running ``skillgap serve``: its process, API root and everything it printed so far."""

    process: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)


@contextmanager
def serve_process(*args: str, env: Mapping[str, str] | None = None,
                  start_timeout_s: float = 120.0) -> Iterator[ServeProcess]:
    """Run ``skillgap serve --port 0 ARGS`` until the block ends.

    Raises ``RuntimeError`` with the server's output when it does not print its URL in time.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "skillgap.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )
    output: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # keep draining, so the server never blocks on a full pipe
            output.append(line)
            if " at http://" in line:
                ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + start_timeout_s
        while not ready.is_set() and process.poll() is None and time.monotonic() < deadline:
            ready.wait(0.1)
        found = _URL.search("".join(output))
        if found is None:
            raise RuntimeError("skillgap serve did not start:\n" + "".join(output))
        yield ServeProcess(process, found.group(1), output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        reader.join(timeout=5)
