"""The Router protocol: pick, per sample, the strategy (or executor) to run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict


class RouteDecision(BaseModel):
    """A router's choice for one sample, with its score, for logs and traces."""

    model_config = ConfigDict(frozen=True)
    router: str
    choice: str
    score: float | None = None


@runtime_checkable
class Router(Protocol):
    """Chooses a branch (``direct``, ``cascaded``, ``cot`` or an executor) from cheap signals."""

    name: str

    def route(self, task: str, signals: Mapping[str, Any]) -> RouteDecision: ...
