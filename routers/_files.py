"""Router files: a router's record plus the samples it was trained on, as small JSON.

The training samples are kept so that evaluating a router on any of them is refused: a router is
judged on held-out samples only (another ``--seed``, or another dataset).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ._router import Router, router_from_record

FILE_VERSION = 1


class RouterOverlapError(ValueError):
    """A router would be evaluated on samples it was trained on."""


class TrainedOn(BaseModel):
    """Where a router's parameters came from: the run folder, its config, the sample keys."""

    run: str
    config: dict[str, Any] = Field(default_factory=dict)
    samples: list[str] = Field(default_factory=list)  # "task/sample_id"
    metrics: dict[str, Any] = Field(default_factory=dict)  # training-run accuracy and cost


class RouterFile(BaseModel):
    """What ``skillgap route train`` writes."""

    version: int = FILE_VERSION
    router: dict[str, Any]
    trained_on: TrainedOn | None = None

    def build(self) -> Router:
        return router_from_record(self.router)


def save_router(router: Router, path: Path, *, trained_on: TrainedOn | None = None) -> Path:
    """Write ``router`` (and where it was trained) to ``path`` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = RouterFile(router=router.to_record(), trained_on=trained_on)
    path.write_text(json.dumps(body.model_dump(), indent=1) + "\n", encoding="utf-8")
    return path


def read_router_file(path: Path) -> RouterFile:
    """Read a router file; a missing or malformed file is a ValueError naming it."""
    if not path.is_file():
        raise ValueError(f"router file not found: {path} (make one with `skillgap route train`)")
    try:
        return RouterFile.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path} is not a router file: {exc}") from None


def load_router(path: Path) -> Router:
    """The router saved in ``path``."""
    return read_router_file(path).build()


def check_no_overlap(file: RouterFile, keys: Iterable[str], *, where: str) -> None:
    """Refuse (``RouterOverlapError``) when any ``task/sample_id`` key is a training sample."""
    if file.trained_on is None:
        return
    trained = set(file.trained_on.samples)
    shared = sorted(key for key in set(keys) if key in trained)
    if shared:
        name = file.router.get("name", file.router.get("kind"))
        seed = file.trained_on.config.get("seed")
        raise RouterOverlapError(
            f"router {name!r} was trained on {len(shared)} of the samples of {where} "
            f"(e.g. {shared[0]}; trained on run {file.trained_on.run}"
            + (f", seed {seed}" if seed is not None else "")
            + "): evaluate it on held-out samples, e.g. another --seed"
        )
