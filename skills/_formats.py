"""Skill output types with a compact text form.

A ``TextFormat`` knows its bounded regular expression (the decoding constraint), how to parse its
text form and how to render itself; the text form of an intermediate (``RC BS GT``, ``7H KS``) is
part of the type, so a cascaded chain and a gold label speak the same language.
"""

from __future__ import annotations

import enum
import re
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TextFormat(BaseModel):
    """Base class of skill outputs that read and write a one-line text form.

    Write your own by subclassing: set ``pattern`` (a bounded regex of the whole text form: it is
    the decoding constraint) and ``format_hint`` (one line for the prompt), and define
    ``from_text`` (text that matched the pattern -> value) and ``render`` (value -> text).

    Example:
        >>> class Colour(TextFormat):
        ...     pattern: ClassVar[str] = "(?:red|green|blue)"
        ...     format_hint: ClassVar[str] = "Answer with one colour: red, green or blue."
        ...     name: str
        ...     @classmethod
        ...     def from_text(cls, text: str) -> "Colour":
        ...         return cls(name=text)
        ...     def render(self) -> str:
        ...         return self.name
        >>> Colour.parse(" blue ").name
        'blue'
    """

    model_config = ConfigDict(frozen=True)

    #: Bounded regex of the whole text form; used as the decoding constraint.
    pattern: ClassVar[str]
    #: One line telling a model how to write the value; goes into prompts.
    format_hint: ClassVar[str] = ""

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse the text form; raises ``ValueError`` with the reason when it does not fit."""
        stripped = text.strip()
        if not re.fullmatch(cls.pattern, stripped):
            raise ValueError(f"{stripped!r} does not match {cls.__name__} pattern {cls.pattern}")
        return cls.from_text(stripped)

    @classmethod
    def from_text(cls, text: str) -> Self:
        """Build the value from text that matched ``pattern`` (raise ``ValueError`` if it cannot)."""
        return cls._from_text(text)  # formats written before from_text was public

    @classmethod
    def _from_text(cls, text: str) -> Self:
        raise NotImplementedError(f"{cls.__name__} must define from_text(cls, text)")

    def render(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.render()


class Number(TextFormat):
    """An integer answer."""

    pattern: ClassVar[str] = r"-?[0-9]{1,4}"
    format_hint: ClassVar[str] = "Answer with a number."
    value: int

    @classmethod
    def from_text(cls, text: str) -> Self:
        return cls(value=int(text))

    def render(self) -> str:
        return str(self.value)


_OPERATORS = "+-*/"
_TERM = r"[0-9]{1,3}"


class Expression(TextFormat):
    """An arithmetic expression without spaces, e.g. ``3+4-2``."""

    pattern: ClassVar[str] = rf"{_TERM}(?:[-+*/]{_TERM}){{1,5}}"
    format_hint: ClassVar[str] = "Write the expression, e.g. 3+4-2."
    text: str

    @field_validator("text")
    @classmethod
    def _valid(cls, value: str) -> str:
        if not re.fullmatch(cls.pattern, value):
            raise ValueError(f"{value!r} is not an expression like 3+4-2")
        return value

    @classmethod
    def from_text(cls, text: str) -> Self:
        return cls(text=text)

    def render(self) -> str:
        return self.text

    def evaluate(self) -> int:
        """Value with the usual precedence; raises ``ValueError`` on a non-integer division."""
        tokens = re.findall(r"[0-9]+|[-+*/]", self.text)
        # Fold * and / first, then + and -, exactly (no floats, no eval).
        terms: list[int] = [int(tokens[0])]
        signs: list[str] = []
        for op, number in zip(tokens[1::2], tokens[2::2], strict=True):
            value = int(number)
            if op == "*":
                terms[-1] *= value
            elif op == "/":
                if value == 0 or terms[-1] % value:
                    raise ValueError(f"{self.text} has a non-integer division")
                terms[-1] //= value
            else:
                signs.append(op)
                terms.append(value)
        total = terms[0]
        for sign, value in zip(signs, terms[1:], strict=True):
            total = total + value if sign == "+" else total - value
        return total


COLOURS: dict[str, str] = {"R": "red", "G": "green", "B": "blue", "Y": "yellow"}
SHAPES: dict[str, str] = {"C": "circle", "S": "square", "T": "triangle"}


class Shape(BaseModel):
    """A coloured shape, written as two letters: colour then shape (``RC`` = red circle)."""

    model_config = ConfigDict(frozen=True)
    colour: str
    shape: str

    @field_validator("colour")
    @classmethod
    def _colour(cls, value: str) -> str:
        if value not in COLOURS:
            raise ValueError(f"unknown colour code {value!r}; known: {', '.join(COLOURS)}")
        return value

    @field_validator("shape")
    @classmethod
    def _shape(cls, value: str) -> str:
        if value not in SHAPES:
            raise ValueError(f"unknown shape code {value!r}; known: {', '.join(SHAPES)}")
        return value

    @property
    def code(self) -> str:
        return self.colour + self.shape

    def matches(self, query: str) -> bool:
        """True if ``query`` names this shape's colour or its shape (``red``, ``circle``)."""
        return query in (COLOURS[self.colour], SHAPES[self.shape])


_SHAPE = f"[{''.join(COLOURS)}][{''.join(SHAPES)}]"


class ObjectList(TextFormat):
    """The objects in an image, e.g. ``RC BS GT`` (red circle, blue square, green triangle)."""

    pattern: ClassVar[str] = rf"{_SHAPE}(?: {_SHAPE}){{0,8}}"
    format_hint: ClassVar[str] = "List each object as colour+shape letters, e.g. RC BS GT."
    objects: tuple[Shape, ...] = Field(min_length=1, max_length=9)

    @classmethod
    def from_text(cls, text: str) -> Self:
        return cls(objects=tuple(Shape(colour=code[0], shape=code[1]) for code in text.split()))

    @classmethod
    def from_codes(cls, codes: str) -> Self:
        return cls.parse(codes)

    def render(self) -> str:
        return " ".join(item.code for item in self.objects)

    def count(self, query: str) -> int:
        return sum(item.matches(query) for item in self.objects)


RANKS = "A23456789TJQK"
SUITS = "CDHS"


class Card(BaseModel):
    """A playing card, written rank then suit (``TC`` = ten of clubs, ``AH`` = ace of hearts)."""

    model_config = ConfigDict(frozen=True)
    rank: str
    suit: str

    @field_validator("rank")
    @classmethod
    def _rank(cls, value: str) -> str:
        if value not in RANKS:
            raise ValueError(f"unknown rank {value!r}; known: {RANKS}")
        return value

    @field_validator("suit")
    @classmethod
    def _suit(cls, value: str) -> str:
        if value not in SUITS:
            raise ValueError(f"unknown suit {value!r}; known: {SUITS}")
        return value

    @property
    def code(self) -> str:
        return self.rank + self.suit


_CARD = f"[{RANKS}][{SUITS}]"


class CardHand(TextFormat):
    """The cards in an image, e.g. ``7H KS``."""

    pattern: ClassVar[str] = rf"{_CARD}(?: {_CARD}){{0,5}}"
    format_hint: ClassVar[str] = "Name each card as rank+suit, e.g. 7H KS (T = ten)."
    cards: tuple[Card, ...] = Field(min_length=1, max_length=6)

    @classmethod
    def from_text(cls, text: str) -> Self:
        return cls(cards=tuple(Card(rank=code[0], suit=code[1]) for code in text.split()))

    def render(self) -> str:
        return " ".join(card.code for card in self.cards)

    def blackjack_value(self) -> int:
        """Best blackjack total: faces count 10, an ace 11 unless that busts the hand, then 1."""
        total = sum(10 if card.rank in "TJQK" else 1 if card.rank == "A" else int(card.rank)
                    for card in self.cards)
        if any(card.rank == "A" for card in self.cards) and total + 10 <= 21:
            total += 10
        return total


def render_value(value: Any) -> str:
    """Text form of a skill input or output value, as it appears in prompts and logs."""
    if isinstance(value, TextFormat):
        return value.render()
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):  # as boolean skill outputs are written
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(render_value(item) for item in value)
    return str(value)
