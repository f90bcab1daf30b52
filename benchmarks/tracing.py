"""Tracing overhead: the same eval on the embedded tiny model with OTLP export to a local receiver
vs tracing off.

The receiver is a minimal OTLP/HTTP server in its own process on 127.0.0.1 (it accepts and drops
every batch), or Phoenix with ``--phoenix`` when ``make phoenix`` has installed it. Rounds alternate
the order of the two runs; the printed ratio is the median of per-round traced/off wall times
(target <= 1.05).

    python benchmarks/tracing.py [--n 6] [--rounds 3] [--phoenix]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from skillgap.backends import load_backend
from skillgap.evals import EvalConfig, load_samples, run_eval
from skillgap.telemetry import TraceConfig, configure_tracing


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_receiver(phoenix: bool) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    if phoenix:
        venv = Path(os.environ.get("SKILLGAP_PHOENIX_VENV",
                                   Path.home() / ".cache/skillgap/phoenix-venv"))
        workdir = tempfile.mkdtemp(prefix="phoenix-")
        command = [str(venv / "bin" / "phoenix"), "serve", "--host", "127.0.0.1", "--port",
                   str(port), "--grpc-port", str(_free_port())]
        env = {**os.environ, "PHOENIX_WORKING_DIR": workdir}
    else:
        # -P: this folder is not put on the receiver's import path (nothing here may shadow the
        # standard library's http package).
        command, env = [sys.executable, "-P", __file__, "--receiver", str(port)], dict(os.environ)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return url, process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"receiver exited with {process.returncode}") from None
            time.sleep(0.5)
    process.terminate()
    raise TimeoutError("the receiver did not start")


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (all threads, the exporter's included)."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6, help="samples per task")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phoenix", action="store_true", help="send to Phoenix instead")
    parser.add_argument("--receiver", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver is not None:  # the receiver process; it ends with its parent
        server = ThreadingHTTPServer(("127.0.0.1", args.receiver), _Sink)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        parent = os.getppid()
        while os.getppid() == parent:
            time.sleep(1)
        return

    config = EvalConfig(n=args.n, seed=777)
    samples = load_samples(config)
    backend = load_backend("transformers")
    url, receiver = start_receiver(args.phoenix)
    trace_config = TraceConfig.parse(f"otlp:{url}", project_name="skillgap-benchmark")
    workdir = Path(tempfile.mkdtemp(prefix="tracing-bench-"))
    runs = iter(range(10_000))

    def off() -> None:
        run_eval(config, backend, workdir / f"off-{next(runs)}", samples=samples, show_progress=False)

    def traced() -> None:
        with configure_tracing(trace_config) as tracing:
            run_eval(config, backend, workdir / f"on-{next(runs)}", samples=samples,
                     show_progress=False)
        if tracing.export_failures:
            print(f"warning: {tracing.export_failures} failed exports")

    try:
        off()  # warm-up: model load, constraint compilation, report code paths
        walls, cpus = [], []
        for round_ in range(args.rounds):
            if round_ % 2:
                on, no = timed(traced), timed(off)
            else:
                no, on = timed(off), timed(traced)
            walls.append(on[0] / no[0])
            cpus.append(on[1] / no[1])
            print(f"round {round_}: wall off {no[0]:.2f}s traced {on[0]:.2f}s ({walls[-1]:.3f}); "
                  f"cpu off {no[1]:.2f}s traced {on[1]:.2f}s ({cpus[-1]:.3f})")
    finally:
        receiver.terminate()
        receiver.wait(timeout=30)
    print(f"wall-time ratio: {statistics.median(walls):.3f}")
    print(f"tracing ratio: {statistics.median(cpus):.3f}")


if __name__ == "__main__":
    main()
