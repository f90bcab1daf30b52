"""The three reference tasks as compositions of built-in skills."""

from __future__ import annotations

from ..graphs._composition import Composition
from ..skills import (
    count_objects,
    list_objects,
    read_cards,
    read_expression,
    score_blackjack,
    solve_expression,
)

COMPOSITIONS: dict[str, Composition] = {
    "rendered_text": Composition(
        "rendered_text",
        read_expression,
        solve_expression,
        "What is the result of the expression in the image?",
    ),
    "counting": Composition(
        "counting", list_objects, count_objects, "How many {query} objects are in the image?"
    ),
    "cards": Composition(
        "cards", read_cards, score_blackjack, "What is the blackjack value of this hand?"
    ),
}


def composition(task: str) -> Composition:
    try:
        return COMPOSITIONS[task]
    except KeyError:
        raise ValueError(
            f"unknown task {task!r}; choose from: {', '.join(COMPOSITIONS)}"
        ) from None
