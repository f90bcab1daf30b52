"""Output formats read model text, which is any text: parsing either gives a value or raises
ValueError with the reason (issue 13's fuzzing of every parser user bytes reach)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skillgap.skills._formats import CardHand, Expression, Number, ObjectList, TextFormat

FORMATS = [Number, Expression, ObjectList, CardHand]


@pytest.mark.parametrize("kind", FORMATS, ids=lambda kind: kind.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(max_size=60) | st.from_regex(r"[0-9A-Z +\-*/x()?.,]{0,30}", fullmatch=True))
def test_any_text_parses_or_is_a_value_error(kind: type[TextFormat], text: str) -> None:
    try:
        value = kind.parse(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert re.fullmatch(kind.pattern, value.render())  # what parses renders back in the format
