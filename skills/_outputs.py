"""Output types of skills: how a declared return type becomes a decoding constraint and a parser.

Three kinds of types are supported, and checked when a skill is declared:

* a :class:`TextFormat` subclass (``Number``, ``ObjectList``, or one of your own): its bounded regex
  is the constraint, its ``from_text``/``render`` read and write the text form;
* plain values — ``str``, ``int``, ``float``, ``bool``, ``Literal[...]``, an ``Enum``, and
  ``list`` of any of these — get a generated text format (a bounded regex, a parser and a format
  hint); the skill's output is the plain value (``"red"``, ``3``, ``Colour.RED``);
* any other pydantic model: its JSON schema is the constraint, ``model_validate_json`` the parser.
"""

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel

from ._formats import TextFormat

#: Longest free-text answer, in characters: a bound keeps constrained decoding finite.
MAX_TEXT_CHARS = 120
#: Longest list answer, in items.
MAX_LIST_ITEMS = 16

SUPPORTED = ("str, int, float, bool, Literal[...], an Enum, list[...] of these, a TextFormat "
             "subclass or a pydantic model")


class PlainText(TextFormat):
    """The generated text format of a plain value type; ``value`` holds the parsed value.

    Skills unwrap it: a skill declared ``-> int`` outputs ``3``, not ``PlainText``.
    """

    value: Any
    #: The declared type this format reads and writes.
    declared: ClassVar[Any]
    _read: ClassVar[Callable[[str], Any]]
    _write: ClassVar[Callable[[Any], str]]

    @classmethod
    def from_text(cls, text: str) -> Self:
        return cls(value=cls._read(text))

    def render(self) -> str:
        return type(self)._write(self.value)


def _choices(values: Sequence[Any], write: Callable[[Any], str]) -> tuple[str, Callable[[str], Any]]:
    by_text = {write(value): value for value in values}
    pattern = "(?:" + "|".join(re.escape(text) for text in sorted(by_text, key=len, reverse=True)) + ")"
    return pattern, by_text.__getitem__


def _scalar(tp: Any) -> tuple[str, str, Callable[[str], Any], Callable[[Any], str]] | None:
    """(pattern, hint, read, write) of a scalar type, or None when it is not one."""
    if tp is bool:
        return ("(?:yes|no)", "Answer yes or no.", lambda text: text == "yes",
                lambda value: "yes" if value else "no")
    if tp is int:
        return r"-?[0-9]{1,9}", "Answer with a whole number.", int, str
    if tp is float:
        return (r"-?[0-9]{1,9}(?:\.[0-9]{1,6})?", "Answer with a number.", float,
                lambda value: format(value, "g"))
    if tp is str:
        return (rf"[^\n]{{1,{MAX_TEXT_CHARS}}}", f"Answer in at most {MAX_TEXT_CHARS} characters, "
                "on one line.", str, str)
    if typing.get_origin(tp) is Literal:
        values = typing.get_args(tp)
        if not values or not all(isinstance(v, str | int | bool) for v in values):
            return None
        write = _write_scalar
        pattern, read = _choices(values, write)
        return pattern, f"Answer with one of: {', '.join(map(write, values))}.", read, write
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        members = list(tp)
        if not members:
            return None
        pattern, read = _choices(members, _write_scalar)
        shown = ", ".join(_write_scalar(m) for m in members)
        return pattern, f"Answer with one of: {shown}.", read, _write_scalar
    return None


def _write_scalar(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _list(tp: Any) -> tuple[str, str, Callable[[str], Any], Callable[[Any], str]] | None:
    if typing.get_origin(tp) is not list or len(typing.get_args(tp)) != 1:
        return None
    (item_type,) = typing.get_args(tp)
    item = _scalar(item_type)
    if item is None:
        return None
    pattern, hint, read, write = item
    if item_type is str:  # items of a list may not hold its separator
        pattern, hint = r"[^,\n]{1,40}", "Each item is a few words without commas."
    return (rf"{pattern}(?:, {pattern}){{0,{MAX_LIST_ITEMS - 1}}}",
            f"Answer with a comma-separated list. {hint}",
            lambda text: [read(part) for part in text.split(", ")],
            lambda values: ", ".join(write(v) for v in values))


def type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "Literal[" + ", ".join(map(repr, typing.get_args(tp))) + "]"
    if typing.get_origin(tp) is list:
        return f"list[{', '.join(type_name(a) for a in typing.get_args(tp))}]"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


@cache
def _plain_format(tp: Any) -> type[PlainText] | None:
    spec = _scalar(tp) or _list(tp)
    if spec is None:
        return None
    pattern, hint, read, write = spec
    namespace = {
        "pattern": pattern,
        "format_hint": hint,
        "declared": tp,
        "_read": staticmethod(read),
        "_write": staticmethod(write),
        "__module__": __name__,
    }
    name = re.sub(r"\W+", "_", type_name(tp)).strip("_")
    return type(f"PlainText_{name}", (PlainText,), namespace)


def text_format(tp: Any) -> type[TextFormat] | None:
    """The text format of an output type: the type itself for a ``TextFormat``, a generated
    :class:`PlainText` for plain values, None for pydantic models (JSON) and unsupported types."""
    if isinstance(tp, type) and issubclass(tp, TextFormat):
        return tp
    try:
        return _plain_format(tp)
    except TypeError:  # an unhashable annotation: not one we support
        return None


def is_supported_output(tp: Any) -> bool:
    return text_format(tp) is not None or (isinstance(tp, type) and issubclass(tp, BaseModel))


def check_output_type(tp: Any, where: str) -> None:
    """Raise ``TypeError`` naming ``where`` unless ``tp`` is a supported output type."""
    if not is_supported_output(tp):
        raise TypeError(f"{where}: unsupported type {type_name(tp)}; use {SUPPORTED}")


def unwrap(value: Any) -> Any:
    """The plain value of a generated text format; any other value unchanged."""
    return value.value if isinstance(value, PlainText) else value


def wrap(tp: type[TextFormat], value: Any) -> TextFormat:
    """``value`` as an instance of its text format ``tp`` (plain values get wrapped)."""
    if isinstance(value, TextFormat):
        return value
    if issubclass(tp, PlainText):
        return tp(value=value)
    raise TypeError(f"{value!r} is not a {tp.__name__}")


def render_plain(value: Any) -> str | None:
    """The text form of a plain value (enum, bool, list), or None for other values."""
    if isinstance(value, enum.Enum | bool):
        return _write_scalar(value)
    if isinstance(value, list):
        return ", ".join(render_plain(v) or str(v) for v in value)
    return None
