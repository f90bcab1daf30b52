"""Compositions: binding by type, derived direct and chain-of-thought skills."""

import re

import pytest
from graph_helpers import CARDS, COUNTING, RENDERED_TEXT
from pydantic import BaseModel

from skillgap import Composition, ImageRef
from skillgap.graphs import ANSWER_LINE, ChainOfThought, chain_of_thought_type
from skillgap.skills import (
    Expression,
    Image,
    Number,
    ObjectList,
    ObjectQuery,
    ParseFailure,
    count_objects,
    list_objects,
    read_cards,
    read_expression,
    skill,
    solve_expression,
)


@skill(register=False)
def compare_lists(left: ObjectList, right: ObjectList) -> Number:
    """Count the objects in both lists."""


class Summary(BaseModel):
    total: int


@skill(register=False)
def summarise_objects(objects: ObjectList) -> Summary:
    """Summarise the objects."""


@skill(register=False)
def image_and_query(image: Image, query: ObjectQuery) -> ObjectList:
    """List the {query} objects in the image."""


def test_bind_is_inferred_by_type() -> None:
    assert RENDERED_TEXT.bind == "expression"
    assert COUNTING.bind == "objects"
    assert CARDS.bind == "hand"


def test_explicit_bind_is_kept_and_checked() -> None:
    comp = Composition("pick", list_objects, compare_lists, "Compare.", bind="right")
    assert comp.bind == "right"
    assert comp.inputs == {"image": ImageRef, "left": ObjectList}
    with pytest.raises(ValueError, match="compare_lists has no input 'middle'"):
        Composition("pick", list_objects, compare_lists, "Compare.", bind="middle")


def test_ambiguous_bind_names_both_skills_and_candidates() -> None:
    with pytest.raises(ValueError) as info:
        Composition("ambiguous", list_objects, compare_lists, "Compare.")
    message = str(info.value)
    assert "composition 'ambiguous'" in message
    assert "input of compare_lists takes ObjectList from list_objects" in message
    assert "['left', 'right']" in message
    assert "bind=" in message


def test_no_bindable_input_names_both_skills() -> None:
    with pytest.raises(ValueError) as info:
        Composition("mismatch", read_cards, solve_expression, "Solve.")
    message = str(info.value)
    assert "input of solve_expression takes CardHand from read_cards" in message
    assert "candidates: none" in message


def test_clashing_input_names_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"both skills have input\(s\) \['query'\]"):
        Composition("clash", image_and_query, count_objects, "How many?")


def test_direct_skill_inputs_are_visual_plus_unbound_textual() -> None:
    direct = COUNTING.direct_skill()
    assert dict(direct.inputs) == {"image": ImageRef, "query": ObjectQuery}
    assert list(direct.inputs) == ["image", "query"]
    assert direct.name == "counting.direct"
    assert direct.output is Number
    assert direct.modality == "vision"
    assert direct.instruction == COUNTING.question
    assert dict(RENDERED_TEXT.direct_skill().inputs) == {"image": ImageRef}


def test_direct_skill_prompt_fills_the_question() -> None:
    ref = ImageRef.from_bytes(b"not decoded here", key="composition-direct")
    (message,) = COUNTING.direct_skill().prompt({"image": ref, "query": "blue"})
    assert message.text == "How many blue objects are in the image? Answer with a number."
    assert message.images == [ref]


def test_cot_skill_constraint_accepts_reasoning_then_answer_line() -> None:
    cot = COUNTING.cot_skill()
    pattern = cot.constraint().pattern
    assert pattern is not None
    assert re.fullmatch(pattern, "RC GS\nAnswer: 1")
    assert re.fullmatch(pattern, "RC GS YT\nAnswer: -3")
    assert not re.fullmatch(pattern, "RC GS")
    assert not re.fullmatch(pattern, "RC GS\n1")
    assert not re.fullmatch(pattern, "Answer: 1")
    assert not re.fullmatch(pattern, "RC GS\nAnswer: one")


def test_cot_skill_is_derived_from_both_skills() -> None:
    cot = COUNTING.cot_skill()
    assert cot.name == "counting.cot"
    assert dict(cot.inputs) == COUNTING.inputs
    assert issubclass(cot.output, ChainOfThought)
    assert cot.output is chain_of_thought_type(ObjectList, Number)
    assert cot.instruction == (
        "How many {query} objects are in the image? First list the objects in the image. "
        "Then count the {query} objects in the list."
    )
    assert cot.max_tokens == list_objects.max_tokens + len(ANSWER_LINE) + 1 + 3
    assert COUNTING.cot_skill() == cot  # derived skills compare equal


def test_cot_parse_takes_answer_from_final_answer_line() -> None:
    cot = RENDERED_TEXT.cot_skill()
    parsed = cot.parse("3+4*2\nAnswer: 11")
    assert isinstance(parsed, ChainOfThought)
    assert parsed.answer == Number(value=11)
    assert parsed.reasoning == "3+4*2"
    assert parsed.parsed_reasoning() == Expression(text="3+4*2")
    assert parsed.render() == "3+4*2\nAnswer: 11"

    twice = cot.parse("Answer: 5 maybe\n3+4*2\nAnswer: 11\n")
    assert not isinstance(twice, ParseFailure)
    assert twice.answer == Number(value=11)


def test_cot_parse_keeps_unparseable_reasoning_as_text() -> None:
    parsed = RENDERED_TEXT.cot_skill().parse("I think it is eleven\nAnswer: 11")
    assert parsed.answer == Number(value=11)
    assert parsed.parsed_reasoning() is None


@pytest.mark.parametrize("text", ["3+4*2", "3+4*2\nAnswer: eleven", "3+4*2\nAnswer:"])
def test_cot_parse_failure_without_a_valid_answer_line(text: str) -> None:
    failure = RENDERED_TEXT.cot_skill().parse(text)
    assert isinstance(failure, ParseFailure)
    assert failure.skill == "rendered_text.cot"
    assert failure.raw == text
    assert failure.reason


def test_cot_on_json_output_skill_is_a_type_error() -> None:
    comp = Composition("summary", list_objects, summarise_objects, "Summarise the image.")
    assert comp.direct_skill().output is Summary
    with pytest.raises(TypeError, match=r"'summary'.*text-form outputs .*got ObjectList, Summary\)"):
        comp.cot_skill()


def test_read_expression_and_solve_are_the_rendered_text_pair() -> None:
    assert RENDERED_TEXT.visual is read_expression
    assert RENDERED_TEXT.textual is solve_expression
    assert RENDERED_TEXT.question_inputs == []
    assert COUNTING.question_inputs == ["query"]
