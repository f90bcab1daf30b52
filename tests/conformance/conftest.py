"""Tiny models of real MLLM families, built once per test session, and their loaded backends."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The builder and helpers sit beside the tests (tests/ has no packages).
sys.path.insert(0, str(Path(__file__).parent))

from family_models import FamilyModels


@pytest.fixture(scope="session")
def families(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FamilyModels]:
    models = FamilyModels(tmp_path_factory.mktemp("mllm_families"))
    yield models
    models.close()
