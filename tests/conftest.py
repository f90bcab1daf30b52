from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Helpers shared by tests of several folders (tests/ mirrors the package, so they live apart).
sys.path.insert(0, str(Path(__file__).parent / "helpers"))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded tiny LLaVA: the trained model shipped in the package (integration tests run
    real, trained model code); a random seed-0 one only where a checkout has no shipped model."""
    from skillgap.tiny._model import SHIPPED_MODEL_DIR, build_tiny_model

    if (SHIPPED_MODEL_DIR / "config.json").is_file():
        return SHIPPED_MODEL_DIR
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_model_cache(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``SKILLGAP_CACHE`` folder already holding the untrained default model, for subprocesses
    that load the embedded model (so tests never write into the user's cache)."""
    import shutil

    from skillgap.tiny._model import UNTRAINED_MODEL_NAME

    cache = tmp_path_factory.mktemp("cache")
    shutil.copytree(tiny_model_path, cache / "models" / UNTRAINED_MODEL_NAME)
    return cache
