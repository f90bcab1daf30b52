"""Where the embedded default model lives: the shipped ``save_pretrained`` folder in ``tiny/model``.

The folder is package data of the ``tiny`` package; backends only need its path, so they find it
without importing the (higher-layer) ``tiny`` code.
"""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED_MODEL_DIR = Path(__file__).resolve().parent.parent / "tiny" / "model"


def default_model_path() -> Path:
    """The embedded model's folder; raises ``FileNotFoundError`` with a hint when it is missing."""
    if (SHIPPED_MODEL_DIR / "config.json").is_file():
        return SHIPPED_MODEL_DIR
    raise FileNotFoundError(
        f"the embedded model is missing from {SHIPPED_MODEL_DIR}; reinstall skillgap or train one "
        "with `skillgap train-tiny --out DIR` and pass --model DIR/model"
    )


def cache_dir() -> Path:
    """skillgap's cache folder: ``$SKILLGAP_CACHE``, default ``~/.cache/skillgap`` (not created)."""
    return Path(os.environ.get("SKILLGAP_CACHE") or Path.home() / ".cache" / "skillgap")
