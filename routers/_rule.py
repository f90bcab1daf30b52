"""The rule router: one branch per task (e.g. direct where the gap is nil, cascaded where it is wide)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._fit import Row, TrainOptions, by_task
from ._router import RouteDecision, RouterBase, check_choice, register_router
from ._signals import Signals


@register_router("rule")
class RuleRouter(RouterBase):
    """Picks ``rules[task]``, or ``default`` for a task without a rule.

    Example:
        >>> router = RuleRouter({"rendered_text": "tesseract", "cards": "direct"})
        >>> router.route(Signals(task="counting")).choice
        'cascaded'
    """

    def __init__(self, rules: Mapping[str, str], *, default: str = "cascaded", name: str = "rule"):
        self.rules = {task: check_choice(choice, f"rule for {task!r}") for task, choice in rules.items()}
        self.default = check_choice(default, "rule router default")
        self.name = name
        self.choices: tuple[str, ...] = tuple(dict.fromkeys([*self.rules.values(), default]))

    def choices_for(self, task: str) -> tuple[str, ...]:
        """The one branch this router takes on ``task`` (so graphs of other tasks need not build
        branches that cannot run there, such as ``tesseract`` on counting)."""
        return (self.rules.get(task, self.default),)

    def route(self, signals: Signals) -> RouteDecision:
        return RouteDecision(router=self.name, choice=self.rules.get(signals.task, self.default))

    @classmethod
    def train(cls, rows: Sequence[Row], options: TrainOptions) -> RuleRouter:
        """Per task, the most accurate strategy every row ran (the cheaper on a tie: fewer calls,
        then fewer tokens, then the earlier in ``options.cost_order``)."""
        rules = {}
        for task, task_rows in by_task(rows).items():
            ran = set.intersection(*(set(r.correct) for r in task_rows))
            order = [s for s in options.cost_order if s in ran] + sorted(ran - set(options.cost_order))
            rules[task] = max(order, key=lambda s: (sum(r.correct[s] for r in task_rows),
                                                    -sum(r.costs[s].calls for r in task_rows),
                                                    -sum(r.costs[s].tokens for r in task_rows)))
        return cls(rules, name=options.name)

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "rules": dict(sorted(self.rules.items())),
                "default": self.default}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RuleRouter:
        return cls(record.get("rules", {}), default=record.get("default", "cascaded"),
                   name=record.get("name", "rule"))
