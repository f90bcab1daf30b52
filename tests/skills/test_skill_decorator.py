"""The ``@skill`` decorator, the registry, and what a skill derives from its types."""

import re
from typing import Any, Literal

import pytest
from PIL import Image as PILImage
from pydantic import BaseModel

from skillgap.backends import ImagePart, ImageRef, TextPart
from skillgap.skills import (
    CardHand,
    Expression,
    Image,
    Number,
    ObjectList,
    ParseFailure,
    Skill,
    SkillInputError,
    count_objects,
    get_skill,
    list_objects,
    list_skills,
    read_cards,
    read_expression,
    score_blackjack,
    skill,
    solve_expression,
)

BUILT_IN = [read_expression, solve_expression, list_objects, count_objects, read_cards,
            score_blackjack]


class Box(BaseModel):
    label: str
    size: int


@skill(register=False)
def describe_box(image: Image, hint: str) -> Box:
    """Describe the box in the image.

    This second paragraph is documentation, not instruction.
    """


@skill(name="test_skill_decorator.bounded_sum", register=False)
def bounded_sum(expression: Expression, max_value: Number, mode: Literal["fast", "slow"]) -> Number:
    """Compute the {mode} value of the expression,
    capped at a maximum."""


def _image() -> PILImage.Image:
    return PILImage.new("RGB", (80, 80), "white")


def test_decorator_derives_name_inputs_output_and_modality() -> None:
    assert isinstance(describe_box, Skill)
    assert describe_box.name == "describe_box"
    assert dict(describe_box.inputs) == {"image": ImageRef, "hint": str}
    assert describe_box.output is Box
    assert describe_box.modality == "vision"
    assert describe_box.image_inputs == ["image"]
    assert describe_box.instruction == "Describe the box in the image."
    assert "second paragraph" in describe_box.description


def test_decorator_joins_first_paragraph_and_takes_explicit_name() -> None:
    assert bounded_sum.name == "test_skill_decorator.bounded_sum"
    assert bounded_sum.instruction == "Compute the {mode} value of the expression, capped at a maximum."
    assert bounded_sum.modality == "text"
    assert bounded_sum.image_inputs == []
    assert list(bounded_sum.inputs) == ["expression", "max_value", "mode"]


def test_built_in_skills_have_expected_signatures() -> None:
    assert read_expression.modality == "vision"
    assert solve_expression.modality == "text"
    assert list_objects.output is ObjectList
    assert read_cards.output is CardHand
    assert count_objects.signature() == (
        "count_objects(objects: ObjectList, query: Literal['red', 'green', 'blue', 'yellow', "
        "'circle', 'square', 'triangle']) -> Number"
    )


def test_skill_without_annotations_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"'untyped': annotate every input.*missing: x, return"):

        @skill(register=False)
        def untyped(x):  # type: ignore[no-untyped-def]
            """Do something."""


def test_skill_without_return_annotation_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"missing: return\)"):

        @skill(register=False)
        def no_return(x: int):  # type: ignore[no-untyped-def]
            """Do something."""


def test_skill_without_docstring_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="'undocumented' needs a docstring"):

        @skill(register=False)
        def undocumented(x: Expression) -> Number: ...


def test_get_skill_finds_registered_skills() -> None:
    assert get_skill("read_expression") is read_expression
    names = [s.name for s in list_skills()]
    assert names == sorted(names)
    assert {s.name for s in BUILT_IN} <= set(names)


def test_get_skill_unknown_name_lists_registered_skills() -> None:
    with pytest.raises(KeyError) as info:
        get_skill("no_such_skill")
    message = info.value.args[0]
    assert "unknown skill 'no_such_skill'" in message
    for built_in in BUILT_IN:
        assert built_in.name in message


def test_register_false_keeps_skill_out_of_registry() -> None:
    with pytest.raises(KeyError):
        get_skill("describe_box")


def test_registering_same_skill_twice_is_fine_but_a_different_one_is_not() -> None:
    def make() -> Skill:
        @skill(name="test_skill_decorator.registered")
        def registered(expression: Expression) -> Number:
            """Compute the value."""

        return registered

    first = make()
    assert make() == first  # an equal skill registers again without complaint
    assert get_skill("test_skill_decorator.registered") == first

    with pytest.raises(ValueError, match="different skill named 'read_expression'"):

        @skill(name="read_expression")
        def impostor(image: Image) -> Number:
            """Read a number."""

    assert get_skill("read_expression") is read_expression


def test_prompt_fills_query_in_place_and_appends_hint() -> None:
    (message,) = count_objects.prompt({"objects": "RC GS", "query": "red"})
    assert message.role == "user"
    assert message.content == (
        TextPart(text="Count the red objects in the list. Answer with a number.\nObjects: RC GS"),
    )
    assert "Query:" not in message.text


def test_prompt_lists_other_text_inputs_with_titles() -> None:
    values = {"expression": "3+4", "max_value": "9", "mode": "fast"}
    (message,) = bounded_sum.prompt(values)
    assert message.text.splitlines() == [
        "Compute the fast value of the expression, capped at a maximum. Answer with a number.",
        "Expression: 3+4",
        "Max value: 9",
    ]


def test_prompt_puts_text_before_image() -> None:
    ref = ImageRef.from_pil(_image())
    (message,) = read_expression.prompt({"image": ref})
    assert [type(part) for part in message.content] == [TextPart, ImagePart]
    assert message.content[0].text == (
        "Read the arithmetic expression in the image. Write the expression, e.g. 3+4-2."
    )
    assert message.images == [ref]


def test_prompt_of_json_output_skill_has_no_hint_and_lists_text_input() -> None:
    (message,) = describe_box.prompt({"image": _image(), "hint": "look left"})
    assert message.text == "Describe the box in the image.\nHint: look left"
    assert isinstance(message.content[1], ImagePart)
    assert message.content[1].image.uri.startswith("mem://")


def test_request_carries_constraint_metadata_and_budget() -> None:
    request = solve_expression.request({"expression": "1+2"}, metadata={"node": "n"})
    assert request.constraint is not None
    assert request.constraint.pattern == Number.pattern
    assert request.max_tokens == solve_expression.max_tokens == 6
    assert request.metadata == {"skill": "solve_expression", "node": "n"}
    assert solve_expression.request({"expression": "1+2"}, constrained=False).constraint is None


def test_constraint_is_regex_for_text_formats() -> None:
    constraint = list_objects.constraint()
    assert constraint.kind == "regex"
    assert constraint.pattern == ObjectList.pattern
    assert constraint.schema_ is None


def test_constraint_is_json_schema_for_pydantic_outputs() -> None:
    constraint = describe_box.constraint()
    assert constraint.kind == "json_schema"
    assert constraint.pattern is None
    assert constraint.schema_ == Box.model_json_schema()


VALID_AND_INVALID: dict[str, tuple[list[str], list[str]]] = {
    "read_expression": (["3+4-2", "12*3", "1/1+2-3*4/5"], ["3 + 4", "7", "3+4=7", "1+2+3+4+5+6+7"]),
    "solve_expression": (["7", "-14", "9999"], ["", "7.0", "12345", "+7", "seven"]),
    "list_objects": (["RC", "RC BS GT", " ".join(["YS"] * 9)],
                     ["", "RC  BS", "rc", "RX", "RC,BS", " ".join(["YS"] * 10)]),
    "count_objects": (["0", "3"], ["three", "1 2"]),
    "read_cards": (["7H", "7H KS TC AD 2C 3D"], ["10H", "1H", "7h", " ".join(["7H"] * 7)]),
    "score_blackjack": (["21", "12"], ["21!", "twenty"]),
}


@pytest.mark.parametrize("built_in", BUILT_IN, ids=lambda s: s.name)
def test_built_in_regex_accepts_valid_and_rejects_invalid(built_in: Skill) -> None:
    valid, invalid = VALID_AND_INVALID[built_in.name]
    pattern = built_in.constraint().pattern
    assert pattern is not None
    for text in valid:
        assert re.fullmatch(pattern, text), text
        assert not isinstance(built_in.parse(text), ParseFailure), text
    for text in invalid:
        assert not re.fullmatch(pattern, text), text


def test_parse_returns_typed_outputs() -> None:
    assert read_expression.parse("3+4") == Expression(text="3+4")
    assert solve_expression.parse(" 7\n") == Number(value=7)
    assert read_cards.parse("AH KS").blackjack_value() == 21
    assert describe_box.parse('{"label": "red", "size": 3}') == Box(label="red", size=3)


@pytest.mark.parametrize(
    ("built_in", "text"),
    [
        (solve_expression, "seven"),
        (solve_expression, ""),
        (read_expression, "3 + 4"),
        (list_objects, "XC"),
        (read_cards, "10H"),
        (describe_box, "not json"),
        (describe_box, '{"label": "red"}'),
        (describe_box, '{"label": "red", "size": "big"}'),
    ],
)
def test_parse_failure_keeps_raw_text_and_reason(built_in: Skill, text: str) -> None:
    failure = built_in.parse(text)
    assert isinstance(failure, ParseFailure)
    assert failure.skill == built_in.name
    assert failure.raw == text
    assert failure.reason
    assert "\n" not in failure.reason


def test_validate_inputs_missing_input_names_skill_input_and_signature() -> None:
    with pytest.raises(SkillInputError) as info:
        count_objects.validate_inputs({"objects": "RC"})
    message = str(info.value)
    assert "skill 'count_objects' is missing input(s) 'query'" in message
    assert count_objects.signature() in message


def test_validate_inputs_wrong_literal_names_skill_input_and_choices() -> None:
    with pytest.raises(SkillInputError) as info:
        count_objects.validate_inputs({"objects": "RC", "query": "purple"})
    message = str(info.value)
    assert "skill 'count_objects'" in message
    assert "input 'query'" in message
    assert "'red'" in message and "'triangle'" in message


@pytest.mark.parametrize(("value", "shown"), [(42, "int 42"), ("hello", "str 'hello'")])
def test_validate_inputs_non_image_for_vision_skill(value: Any, shown: str) -> None:
    with pytest.raises(SkillInputError) as info:
        read_expression.validate_inputs({"image": value})
    message = str(info.value)
    assert "skill 'read_expression' input 'image' expects an image" in message
    assert shown in message


def test_validate_inputs_accepts_images_in_every_form() -> None:
    ref = ImageRef.from_pil(_image())
    for value in (ref, _image(), ref.uri, ref.data_uri()):
        checked = read_expression.validate_inputs({"image": value})
        assert isinstance(checked.image, ImageRef)  # type: ignore[attr-defined]
    assert read_expression.validate_inputs({"image": ref}).image is ref  # type: ignore[attr-defined]


def test_validate_inputs_accepts_text_forms_for_text_format_inputs() -> None:
    checked = count_objects.validate_inputs({"objects": "RC GS", "query": "red"})
    assert checked.objects == ObjectList.parse("RC GS")  # type: ignore[attr-defined]
    assert checked.query == "red"  # type: ignore[attr-defined]
    typed = count_objects.validate_inputs({"objects": ObjectList.parse("RC"), "query": "circle"})
    assert typed.objects.count("circle") == 1  # type: ignore[attr-defined]


def test_validate_inputs_rejects_bad_text_form() -> None:
    with pytest.raises(SkillInputError, match=r"skill 'count_objects' input 'objects': 'XC'"):
        count_objects.validate_inputs({"objects": "XC", "query": "red"})


def test_instruction_placeholder_must_be_an_input() -> None:
    with pytest.raises(ValueError, match=r"mentions \{colour\}.*inputs: expression"):
        Skill(name="bad", inputs={"expression": Expression}, output=Number,
              instruction="Count the {colour} ones.")


def test_skill_needs_an_input() -> None:
    with pytest.raises(ValueError, match="needs at least one input"):
        Skill(name="empty", inputs={}, output=Number, instruction="Say a number.")


def test_describe_is_a_json_record() -> None:
    record = count_objects.describe()
    assert record["name"] == "count_objects"
    assert record["inputs"]["objects"] == "ObjectList"
    assert record["output"] == "Number"
    assert record["modality"] == "text"
    assert record["constraint"] == {"kind": "regex", "pattern": Number.pattern}
