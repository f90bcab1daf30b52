"""Shared by the eval tests: a mock model that reads perfectly and composes only when told to."""

from __future__ import annotations

from collections.abc import Iterable

from skillgap.backends import GenerationRequest, MockBackend
from skillgap.skills import CardHand, Expression, ObjectList
from skillgap.tasks import Sample


def reader_backend(
    items: Iterable[object], *, model_id: str = "mock", direct_right: bool = False
) -> MockBackend:
    """Visual skills answer the gold intermediate; textual skills compute from the text in their
    prompt (so a cascade really passes its intermediate); direct is right only if ``direct_right``."""
    labels = {(s.task, s.id): s for s in items if isinstance(s, Sample)}

    def handler(request: GenerationRequest) -> str:
        skill = request.metadata["skill"]
        sample = labels[(request.metadata["task"], request.metadata["sample_id"])]
        if skill.endswith(".direct"):
            return sample.answer if direct_right else "0"
        if skill.endswith(".cot"):
            return f"{sample.intermediate}\nAnswer: {sample.answer}"
        if skill in ("read_expression", "list_objects", "read_cards"):
            return sample.intermediate or ""
        text = request.messages[0].text.splitlines()[-1].split(": ", 1)[1]
        if skill == "solve_expression":
            return str(Expression.parse(text).evaluate())
        if skill == "count_objects":
            return str(ObjectList.parse(text).count(sample.inputs["query"]))
        return str(CardHand.parse(text).blackjack_value())

    return MockBackend(handler=handler, model_id=model_id)
