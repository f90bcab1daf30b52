"""A real Phoenix server for integration tests: found in its own virtual environment (``make
phoenix``), bound to 127.0.0.1, stopped by PID."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

#: Where ``make phoenix`` installs arize-phoenix (never into the project's environment).
PHOENIX_VENV = Path(os.environ.get("SKILLGAP_PHOENIX_VENV",
                                   Path.home() / ".cache" / "skillgap" / "phoenix-venv"))


def phoenix_executable() -> Path | None:
    """The ``phoenix`` command of a complete install, or None."""
    executable = PHOENIX_VENV / "bin" / "phoenix"
    return executable if (PHOENIX_VENV / ".installed").exists() and executable.exists() else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Phoenix:
    """``phoenix serve`` in a subprocess with its own working directory."""

    def __init__(self, executable: Path, workdir: Path):
        self.port, grpc_port = _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "phoenix.log"
        env = {**os.environ, "PHOENIX_WORKING_DIR": str(workdir), "PHOENIX_TELEMETRY_ENABLED": "false"}
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [str(executable), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--grpc-port", str(grpc_port)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
            )

    def wait_healthy(self, timeout_s: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"phoenix exited with {self.process.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"phoenix not healthy after {timeout_s:.0f} s: {self.log()}")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return json.loads(response.read())

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span of ``project`` through the REST API (empty if the project does not exist)."""
        found: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(100):  # pages of 1000; bounded
            try:
                page = self.get(f"/v1/projects/{project}/spans?limit=1000{cursor}")
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return []
                raise
            found += page["data"]
            if not page.get("next_cursor"):
                break
            cursor = f"&cursor={page['next_cursor']}"
        return found

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
