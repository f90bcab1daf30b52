"""The rule router: one branch per task (e.g. direct where the gap is nil, cascaded where it is wide)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._router import RouteDecision, check_choice, register_router


@register_router("rule")
class RuleRouter:
    """Picks ``rules[task]``, or ``default`` for a task without a rule.

    Example:
        >>> router = RuleRouter({"rendered_text": "tesseract", "cards": "direct"})
        >>> router.route("counting", {}).choice
        'cascaded'
    """

    kind = "rule"
    probe: str | None = None

    def __init__(self, rules: Mapping[str, str], *, default: str = "cascaded", name: str = "rule"):
        self.rules = {task: check_choice(choice, f"rule for {task!r}") for task, choice in rules.items()}
        self.default = check_choice(default, "rule router default")
        self.name = name
        self.choices: tuple[str, ...] = tuple(dict.fromkeys([*self.rules.values(), default]))

    def choices_for(self, task: str) -> tuple[str, ...]:
        """The one branch this router takes on ``task`` (so graphs of other tasks need not build
        branches that cannot run there, such as ``tesseract`` on counting)."""
        return (self.rules.get(task, self.default),)

    def route(self, task: str, signals: Mapping[str, Any]) -> RouteDecision:
        return RouteDecision(router=self.name, choice=self.rules.get(task, self.default))

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "rules": dict(sorted(self.rules.items())),
                "default": self.default}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RuleRouter:
        return cls(record.get("rules", {}), default=record.get("default", "cascaded"),
                   name=record.get("name", "rule"))
