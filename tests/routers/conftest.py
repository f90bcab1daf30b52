"""Fixtures for router tests."""

from __future__ import annotations

import sys
from pathlib import Path

# The eval tests' helpers (the perfect-reading mock model), shared rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evals"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
