"""Fixtures for telemetry tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The eval tests' perfect-reading mock model, shared rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

from telemetry_helpers import Traced, tracing_into_memory


@pytest.fixture
def traced() -> Iterator[Traced]:
    """Spans and GenAI metrics of the test, recorded in memory."""
    yield from tracing_into_memory()
