"""Load (issue 13): many concurrent clients of the official openai SDK, each request with an
image, against a live ``skillgap serve`` with a small queue; every request is answered (429s are
retried by the SDK after Retry-After), none lost, and the server's peak memory stays bounded."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("openai")
_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"
_spec = importlib.util.spec_from_file_location("serve_load", _PATH)
assert _spec is not None and _spec.loader is not None
serve_load = importlib.util.module_from_spec(_spec)
sys.modules["serve_load"] = serve_load
_spec.loader.exec_module(serve_load)

KEY = "sk-load-k3y"


def test_many_sdk_clients_with_images_are_all_answered_with_bounded_memory() -> None:
    image = serve_load.png_data_url(96)
    with serve_load.serve("--backend", "mock", "--served-model-name", "mock", "--max-pending", "6",
                          "--log-level", "info", api_key=KEY) as (url, pid, output):
        load = asyncio.run(serve_load.drive(url, 24, 64, image, KEY))
        peak = serve_load.peak_rss_mib(pid)
    assert load.failures == [] and load.answered == load.sent == 64
    assert any(" 429" in line for line in output)  # the queue bound was hit, and recovered from
    assert peak < 1024, peak  # MiB: bounded (about 150 on the reference machine)
    assert KEY not in "".join(output)
