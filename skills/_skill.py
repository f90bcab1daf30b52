"""The Skill type: a typed, modality-aware node whose prompt, constraint and parser come from types."""

from __future__ import annotations

import inspect
import json
import re
import string
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from ..backends._types import Constraint, GenerationRequest, ImagePart, ImageRef, Message, TextPart
from ._formats import TextFormat, render_value
from ._outputs import SUPPORTED, check_output_type, is_supported_output, text_format, type_name, unwrap

#: The type of an image input of a skill.
Image = ImageRef

Modality = Literal["vision", "text"]


class ParseFailure(BaseModel):
    """A model output that does not parse as the skill's output type: recorded, never raised."""

    model_config = ConfigDict(frozen=True)
    skill: str
    raw: str
    reason: str


class SkillInputError(ValueError):
    """Inputs given to a skill do not fit its declared input types."""


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


_type_name = type_name


@dataclass(frozen=True)
class Skill:
    """A modality-dependent skill: typed inputs, a typed output and an instruction.

    The prompt lists the instruction, the output's format hint and the text inputs (inputs named in
    the instruction as ``{name}`` are filled in place), then the images; the decoding constraint
    and the parser come from the output type (see :mod:`skillgap.skills._outputs` for the
    supported types). Types are checked here, when the skill is declared.
    """

    name: str
    inputs: Mapping[str, Any]
    output: type
    instruction: str
    max_tokens: int = 48
    description: str = ""
    _input_model: type[BaseModel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ValueError(f"skill {self.name!r} needs at least one input")
        if not re.fullmatch(r"[A-Za-z_][\w.\-\[\]]*", self.name):
            raise ValueError(f"skill name {self.name!r} must be an identifier-like string")
        check_output_type(self.output, f"skill {self.name!r} output")
        for name, tp in self.inputs.items():
            if tp is not ImageRef and not is_supported_output(tp):
                raise TypeError(f"skill {self.name!r} input {name!r}: unsupported type "
                                f"{type_name(tp)}; use Image, {SUPPORTED}")
        for placeholder in _placeholders(self.instruction):
            if placeholder not in self.inputs:
                raise ValueError(
                    f"skill {self.name!r}: instruction mentions {{{placeholder}}} but the skill has "
                    f"no input of that name (inputs: {', '.join(self.inputs)})"
                )
        fields: dict[str, Any] = {name: (tp, ...) for name, tp in self.inputs.items()}
        model = create_model(
            f"{self.name.title().replace('_', '')}Input",
            __config__=ConfigDict(arbitrary_types_allowed=True, frozen=True),
            **fields,
        )
        object.__setattr__(self, "_input_model", model)

    @property
    def modality(self) -> Modality:
        return "vision" if self.image_inputs else "text"

    @property
    def image_inputs(self) -> list[str]:
        return [name for name, tp in self.inputs.items() if tp is ImageRef]

    @property
    def input_model(self) -> type[BaseModel]:
        return self._input_model

    @property
    def text_format(self) -> type[TextFormat] | None:
        """The output's text format (generated for plain values); None for JSON outputs."""
        return text_format(self.output)

    def constraint(self) -> Constraint:
        """Bounded regex for text-form and plain outputs, JSON schema for other pydantic outputs."""
        form = self.text_format
        if form is not None:
            return Constraint(kind="regex", pattern=form.pattern)
        return Constraint(kind="json_schema",
                          schema=cast(type[BaseModel], self.output).model_json_schema())

    def parse(self, text: str) -> Any:
        """The typed output, or a ``ParseFailure`` carrying the raw text and the reason."""
        try:
            form = self.text_format
            if form is not None:
                return unwrap(form.parse(text))
            return cast(type[BaseModel], self.output).model_validate_json(text)
        except (ValueError, ValidationError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return ParseFailure(skill=self.name, raw=text, reason=reason)

    def validate_inputs(self, values: Mapping[str, Any]) -> BaseModel:
        """Check and coerce inputs; errors name the skill, the input and what was wrong."""
        missing = [name for name in self.inputs if name not in values]
        if missing:
            raise SkillInputError(
                f"skill {self.name!r} is missing input(s) {', '.join(map(repr, missing))} "
                f"(expects {self.signature()})"
            )
        coerced = dict(values)
        for name, tp in self.inputs.items():
            value = values[name]
            if tp is ImageRef:
                coerced[name] = as_image(value, where=f"skill {self.name!r} input {name!r}")
            elif isinstance(tp, type) and issubclass(tp, TextFormat) and isinstance(value, str):
                # Text forms are accepted where their type is expected ("RC GS" for ObjectList).
                try:
                    coerced[name] = tp.parse(value)
                except ValueError as exc:
                    raise SkillInputError(f"skill {self.name!r} input {name!r}: {exc}") from None
        try:
            return self.input_model.model_validate(
                {name: coerced[name] for name in self.inputs}
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"input {'.'.join(map(str, err['loc']))!r}: {err['msg']}" for err in exc.errors()
            )
            raise SkillInputError(f"skill {self.name!r}: {problems}") from None

    def prompt(self, values: Mapping[str, Any]) -> tuple[Message, ...]:
        """Chat messages for validated inputs: text first, then images (the tiny model's order)."""
        checked = self.validate_inputs(values)
        named = _placeholders(self.instruction)
        text = self.instruction.format(
            **{name: render_value(getattr(checked, name)) for name in named}
        )
        form = self.text_format
        hint = form.format_hint if form is not None else ""
        lines = [f"{text} {hint}".strip()]
        for name in self.inputs:
            if name not in named and name not in self.image_inputs:
                lines.append(f"{_title(name)}: {render_value(getattr(checked, name))}")
        parts: list[TextPart | ImagePart] = [TextPart(text="\n".join(lines))]
        parts += [ImagePart(image=getattr(checked, name)) for name in self.image_inputs]
        return (Message(role="user", content=tuple(parts)),)

    def request(
        self,
        values: Mapping[str, Any],
        *,
        constrained: bool = True,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> GenerationRequest:
        return GenerationRequest(
            messages=self.prompt(values),
            constraint=self.constraint() if constrained else None,
            max_tokens=max_tokens or self.max_tokens,
            temperature=temperature,
            seed=seed,
            metadata={"skill": self.name, **(metadata or {})},
        )

    def signature(self) -> str:
        args = ", ".join(f"{name}: {_type_name(tp)}" for name, tp in self.inputs.items())
        return f"{self.name}({args}) -> {_type_name(self.output)}"

    def describe(self) -> dict[str, Any]:
        """A JSON-able record of the skill, for run logs."""
        return {
            "name": self.name,
            "inputs": {name: _type_name(tp) for name, tp in self.inputs.items()},
            "output": _type_name(self.output),
            "modality": self.modality,
            "instruction": self.instruction,
            "max_tokens": self.max_tokens,
            "constraint": self.constraint().model_dump(by_alias=True, exclude_none=True),
        }


def _placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def as_image(value: Any, *, where: str) -> ImageRef:
    """Turn an image-like value into an ``ImageRef``; anything else is a clear error."""
    if isinstance(value, ImageRef):
        return value
    if isinstance(value, Path) or (
        isinstance(value, str) and (value.startswith(("data:", "mem://")) or Path(value).is_file())
    ):
        return ImageRef(uri=str(value))
    if type(value).__module__.startswith("PIL."):
        return ImageRef.from_pil(value)
    shown = repr(value) if len(repr(value)) < 40 else repr(value)[:37] + "..."
    raise SkillInputError(
        f"{where} expects an image (ImageRef, image path, data: URI or PIL image), "
        f"got {type(value).__name__} {shown}"
    )


_REGISTRY: dict[str, Skill] = {}


def register(skill: Skill) -> Skill:
    """Add a skill to the registry that graphs look names up in.

    Declaring the same skill again (re-running a notebook cell, re-importing a file) replaces it;
    a different skill under a registered name is refused.
    """
    known = _REGISTRY.get(skill.name)
    if known is not None and _identity(known) != _identity(skill):
        raise ValueError(
            f"a different skill named {skill.name!r} is already registered "
            f"({known.signature()}: {known.instruction!r}); pick another name, or declare it "
            "with @skill(register=False) to use it without registering"
        )
    _REGISTRY[skill.name] = skill
    return skill


def _identity(skill: Skill) -> tuple[Any, ...]:
    # Types by module and qualified name: a class re-created by re-running its cell is the same.
    def key(tp: Any) -> Any:
        if isinstance(tp, type):
            return (tp.__module__, tp.__qualname__)
        return repr(tp)

    return (skill.name, tuple((n, key(t)) for n, t in skill.inputs.items()), key(skill.output),
            skill.instruction, skill.max_tokens)


def get_skill(name: str) -> Skill:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"unknown skill {name!r}; registered skills: {known}") from None


def list_skills() -> list[Skill]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


@overload
def skill(fn: Callable[..., Any], /) -> Skill: ...
@overload
def skill(
    *, name: str | None = None, max_tokens: int = 48, register: bool = True
) -> Callable[[Callable[..., Any]], Skill]: ...
def skill(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    max_tokens: int = 48,
    register: bool = True,
) -> Skill | Callable[[Callable[..., Any]], Skill]:
    """Declare a skill from a typed function signature; the docstring's first paragraph is the
    instruction. The body is never called: the model does the work.

    Example:
        >>> @skill
        ... def solve_expression(expression: Expression) -> Number:
        ...     \"\"\"Compute the value of the expression.\"\"\"
    """

    def build(function: Callable[..., Any]) -> Skill:
        hints = typing.get_type_hints(function)
        params = inspect.signature(function).parameters
        missing = [p for p in params if p not in hints]
        if missing or "return" not in hints:
            raise TypeError(
                f"skill {function.__name__!r}: annotate every input and the return type "
                f"(missing: {', '.join(missing + ([] if 'return' in hints else ['return']))})"
            )
        doc = inspect.getdoc(function) or ""
        instruction = doc.split("\n\n")[0].replace("\n", " ").strip()
        if not instruction:
            raise TypeError(f"skill {function.__name__!r} needs a docstring: it is the instruction")
        made = Skill(
            name=name or function.__name__,
            inputs={p: hints[p] for p in params},
            output=hints["return"],
            instruction=instruction,
            max_tokens=max_tokens,
            description=doc,
        )
        return _register(made) if register else made

    return build(fn) if fn is not None else build


_register = register


def output_json(value: Any) -> Any:
    """JSON-able form of a typed output (text form for TextFormat values)."""
    if isinstance(value, TextFormat):
        return value.render()
    if isinstance(value, BaseModel):
        return json.loads(value.model_dump_json())
    return value
