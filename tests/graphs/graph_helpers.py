"""Shared by the graph tests: the three built-in compositions and a skill-keyed mock script."""

from skillgap import GenerationRequest
from skillgap.tasks import COMPOSITIONS

RENDERED_TEXT = COMPOSITIONS["rendered_text"]
COUNTING = COMPOSITIONS["counting"]
CARDS = COMPOSITIONS["cards"]

#: What a perfect model says, keyed on the skill each request names.
SCRIPT = {
    "read_expression": "3+4*2",
    "solve_expression": "11",
    "rendered_text.direct": "11",
    "rendered_text.cot": "3+4*2\nAnswer: 11",
    "list_objects": "RC GS RT",
    "count_objects": "2",
    "counting.direct": "2",
    "counting.cot": "RC GS RT\nAnswer: 2",
    "read_cards": "AH KS",
    "score_blackjack": "21",
    "cards.direct": "21",
    "cards.cot": "AH KS\nAnswer: 21",
}


def scripted(request: GenerationRequest) -> str:
    return SCRIPT[request.metadata["skill"]]
