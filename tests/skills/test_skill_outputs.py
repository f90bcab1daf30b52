"""Natural output types (str, int, float, bool, Literal, Enum, lists, pydantic), checked when a skill
is declared; custom text formats through public API; CoT with a bound input named in the textual
instruction; re-declaring a skill."""

from __future__ import annotations

import enum
import re
from typing import Any, ClassVar, Literal

import pytest
from PIL import Image as PILImage
from pydantic import BaseModel

from skillgap.backends import Generation, GenerationRequest, MockBackend
from skillgap.graphs import Composition, cascaded, cot
from skillgap.skills import Image, ParseFailure, Skill, TextFormat, get_skill, skill


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Fruit(BaseModel):
    name: str
    sweet: bool


@pytest.mark.parametrize(("output", "text", "value", "rejected"), [
    (str, "  a red apple ", "a red apple", "two\nlines"),
    (int, "-42", -42, "4.5"),
    (float, "3.25", 3.25, "three"),
    (bool, "yes", True, "maybe"),
    (Literal["red", "green"], "green", "green", "blue"),
    (Literal[1, 2, 3], "2", 2, "4"),
    (Colour, "red", Colour.RED, "RED"),
    (list[int], "1, 2, 3", [1, 2, 3], "1,2"),
    (list[Colour], "green, red", [Colour.GREEN, Colour.RED], "green, blue"),
    (list[str], "apple, pear", ["apple", "pear"], ""),
])
def test_plain_output_types_get_a_bounded_regex_and_a_parser(
    output: Any, text: str, value: Any, rejected: str
) -> None:
    made = Skill(name="plain", inputs={"image": Image}, output=output, instruction="Look.")
    constraint = made.constraint()
    assert constraint.kind == "regex" and constraint.pattern is not None
    assert re.fullmatch(constraint.pattern, text.strip())
    assert made.parse(text) == value
    assert isinstance(made.parse(rejected), ParseFailure)
    assert not re.fullmatch(constraint.pattern, "x" * 500)  # bounded: decoding always ends
    hint = made.prompt({"image": PILImage.new("RGB", (8, 8))})[0].text
    assert hint.startswith("Look. Answer")


def test_pydantic_outputs_get_a_json_schema() -> None:
    made = Skill(name="fruit", inputs={"image": Image}, output=Fruit, instruction="Look.")
    assert made.constraint().kind == "json_schema"
    assert made.parse('{"name": "fig", "sweet": true}') == Fruit(name="fig", sweet=True)


@pytest.mark.parametrize("output", [dict, dict[str, int], tuple[int, int], list[dict], object])
def test_unsupported_output_types_fail_at_the_decorator(output: Any) -> None:
    with pytest.raises(TypeError, match=r"skill 'bad' output: unsupported type .*use str, int"):
        Skill(name="bad", inputs={"image": Image}, output=output, instruction="Look.")


def test_unsupported_input_types_fail_at_the_decorator() -> None:
    with pytest.raises(TypeError, match=r"skill 'read_map' input 'where': unsupported type dict"):

        @skill(register=False)
        def read_map(image: Image, where: dict) -> str:  # type: ignore[type-arg]
            """Read the map."""


def test_a_str_skill_runs_end_to_end_on_the_mock_backend() -> None:
    @skill(register=False)
    def read_colour(image: Image) -> str:
        """Name the colour of the shape."""

    @skill(register=False)
    def name_fruit(colour: str) -> Colour:
        """Say whether a {colour} fruit is red or green."""

    def answer(request: GenerationRequest) -> Generation:
        assert request.constraint is not None and request.constraint.pattern is not None
        text = "crimson" if request.metadata["skill"] == "read_colour" else "red"
        assert re.fullmatch(request.constraint.pattern, text)
        return Generation(text=text)

    comp = Composition("colour_fruit", read_colour, name_fruit, "Is the fruit red or green?")
    result = cascaded(comp).compile().run({"image": PILImage.new("RGB", (8, 8))},
                                          MockBackend(handler=answer))
    assert result.ok and result.intermediate == "crimson" and result.answer is Colour.RED
    assert result.answer_text() == "red"


class Word(TextFormat):
    """A custom text format written with public API only."""

    pattern: ClassVar[str] = "[a-z]{1,12}"
    format_hint: ClassVar[str] = "Answer with one lower-case word."
    word: str

    @classmethod
    def from_text(cls, text: str) -> Word:
        return cls(word=text)

    def render(self) -> str:
        return self.word


def test_a_custom_text_format_needs_only_public_api() -> None:
    made = Skill(name="word", inputs={"image": Image}, output=Word, instruction="Name it.")
    assert made.constraint().pattern == Word.pattern
    assert made.parse(" fig ") == Word(word="fig")
    assert isinstance(made.parse("Fig"), ParseFailure)


@pytest.mark.parametrize("instruction", [
    "{colour}: name a fruit of that colour.",
    "Name a fruit that is {colour}.",
    "Name a {colour} fruit, one that is {colour} when ripe.",
    "Name a {size} fruit that is {colour}.",
    "Given {colour} and {{braces}}, name a {size} fruit.",
])
def test_cot_names_the_bound_input_in_words_wherever_it_is(instruction: str) -> None:
    @skill(register=False)
    def read_colour(image: Image) -> Literal["red", "green"]:
        """Name the colour of the shape."""

    textual = Skill(name="name_fruit", inputs={"colour": Literal["red", "green"], "size": str},
                    output=str, instruction=instruction)
    comp = Composition("colour_fruit", read_colour, textual, "Name a {size} fruit of this colour.")
    derived = cot(comp).skill_of("cot")  # raised "mentions {colour}" before
    assert "{colour}" not in derived.instruction and "the colour" in derived.instruction
    prompt = derived.prompt({"image": PILImage.new("RGB", (8, 8)), "size": "small"})[0].text
    assert ("{braces}" in prompt) == ("{{braces}}" in instruction)  # escaped braces stay text
    assert "{" not in prompt.replace("{braces}", "") and "small" in prompt
    parsed = derived.parse("red\nAnswer: a cherry")
    assert not isinstance(parsed, ParseFailure) and parsed.answer == "a cherry"
    assert parsed.parsed_reasoning() == "red"


def test_redeclaring_an_identical_skill_is_allowed_and_a_different_one_names_register_false() -> None:
    def declare(doc: str) -> Skill:
        # A class re-created on every call, as re-running a notebook cell does.
        answer = enum.Enum("Answer", {"YES": "yes", "NO": "no"})
        answer.__qualname__ = "Answer"

        def ask(image: Image) -> None:
            pass

        ask.__annotations__ = {"image": Image, "return": answer}
        ask.__doc__ = doc
        ask.__name__ = ask.__qualname__ = "test_skill_outputs_ask"
        return skill(ask)

    first = declare("Is there a fruit?")
    again = declare("Is there a fruit?")
    assert get_skill("test_skill_outputs_ask") is again and again.output is not first.output
    with pytest.raises(ValueError, match=r"different skill named 'test_skill_outputs_ask'.*"
                                         r"register=False"):
        declare("Is there a vegetable?")
