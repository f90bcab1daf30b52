"""The fixed router: always the same branch (the baselines ``direct`` and ``cascaded`` as routers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._router import RouteDecision, RouterBase, check_choice, register_router
from ._signals import Signals


@register_router("fixed")
class FixedRouter(RouterBase):
    """Always picks ``choice``.

    Example:
        >>> FixedRouter("cascaded").route(Signals(task="counting")).choice
        'cascaded'
    """

    def __init__(self, choice: str, *, name: str | None = None):
        self.choice = check_choice(choice, "fixed router")
        self.name = name or f"fixed-{choice}"
        self.choices: tuple[str, ...] = (choice,)

    def route(self, signals: Signals) -> RouteDecision:
        return RouteDecision(router=self.name, choice=self.choice)

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "choice": self.choice}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> FixedRouter:
        return cls(record["choice"], name=record.get("name"))
