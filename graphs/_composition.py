"""A composition: a visual skill, a textual skill, and the composed question they answer together.

The direct and chain-of-thought skills are derived from the two skills, never written by hand.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Self

from ..skills._formats import TextFormat
from ..skills._outputs import text_format, type_name, unwrap, wrap
from ..skills._skill import Skill

ANSWER_LINE = "Answer: "


class ChainOfThought(TextFormat):
    """A reasoning line (the intermediate's text form), then a fixed ``Answer: ...`` line.

    ``answer`` holds the textual skill's output as that skill gives it (a plain ``int`` for a
    skill declared ``-> int``, a ``Number`` for one declared ``-> Number``).
    """

    reasoning_type: ClassVar[type[TextFormat]]
    answer_type: ClassVar[type[TextFormat]]
    reasoning: str
    answer: Any

    @classmethod
    def parse(cls, text: str) -> Self:
        # Only the answer line decides; reasoning is kept for failure attribution.
        head, sep, tail = text.strip().rpartition(ANSWER_LINE.strip())
        if not sep:
            raise ValueError(f"no {ANSWER_LINE.strip()!r} line in {text.strip()!r}")
        answer = cls.answer_type.parse(tail.strip().splitlines()[0] if tail.strip() else "")
        return cls(reasoning=head.strip(), answer=unwrap(answer))

    def render(self) -> str:
        return f"{self.reasoning}\n{ANSWER_LINE}{wrap(self.answer_type, self.answer).render()}"

    def parsed_reasoning(self) -> Any:
        """The reasoning line as the visual skill's output (None when it does not parse)."""
        try:
            return unwrap(self.reasoning_type.parse(self.reasoning))
        except ValueError:
            return None


@cache
def chain_of_thought_type(
    reasoning: type[TextFormat], answer: type[TextFormat]
) -> type[ChainOfThought]:
    """The CoT output type for a pair of text formats (cached, so derived skills compare equal)."""
    namespace = {
        "pattern": rf"(?:{reasoning.pattern})\n{ANSWER_LINE}(?:{answer.pattern})",
        "format_hint": f"On the first line: {reasoning.format_hint} "
        f"On the last line: '{ANSWER_LINE.strip()}' and the answer.",
        "reasoning_type": reasoning,
        "answer_type": answer,
        "__module__": __name__,
    }
    return type(f"ChainOfThought_{reasoning.__name__}_{answer.__name__}", (ChainOfThought,), namespace)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _name_inputs(template: str, names: dict[str, str]) -> str:
    """``template`` with the placeholders in ``names`` replaced by plain words and every other
    placeholder (and escaped brace) kept, so the result is still a format template."""
    out = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if field in names:
            out.append(names[field].replace("{", "{{").replace("}", "}}"))
        else:
            out.append("{" + field + (f"!{conversion}" if conversion else "")
                       + (f":{spec}" if spec else "") + "}")
    return "".join(out)


@dataclass(frozen=True)
class Composition:
    """A visual skill chained into a textual skill, and the question that asks for both at once.

    Args:
        name: usually the task name (``rendered_text``).
        visual: the image → intermediate skill.
        textual: the intermediate → answer skill.
        question: the composed question; may name textual inputs as ``{query}``.
        bind: the textual skill's input fed by the visual output; found by type when omitted.
    """

    name: str
    visual: Skill
    textual: Skill
    question: str
    bind: str = ""

    def __post_init__(self) -> None:
        if not self.bind:
            matches = [n for n, tp in self.textual.inputs.items() if tp is self.visual.output]
            if len(matches) != 1:
                raise ValueError(
                    f"composition {self.name!r}: cannot tell which input of {self.textual.name} "
                    f"takes {self.visual.output.__name__} from {self.visual.name} "
                    f"(candidates: {matches or 'none'}); pass bind="
                )
            object.__setattr__(self, "bind", matches[0])
        elif self.bind not in self.textual.inputs:
            raise ValueError(
                f"composition {self.name!r}: {self.textual.name} has no input {self.bind!r}"
            )
        clash = set(self.visual.inputs) & (set(self.textual.inputs) - {self.bind})
        if clash:
            raise ValueError(f"composition {self.name!r}: both skills have input(s) {sorted(clash)}")

    @property
    def inputs(self) -> dict[str, Any]:
        """What a sample must provide: the visual inputs and the textual ones besides the bound."""
        extra = {n: tp for n, tp in self.textual.inputs.items() if n != self.bind}
        return {**self.visual.inputs, **extra}

    @property
    def question_inputs(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.question)

    def direct_skill(self) -> Skill:
        """One call: the composed question, answered in the textual skill's output type."""
        return _derived(self, "direct", self.question, self.textual.output, self.textual.max_tokens)

    def cot_skill(self) -> Skill:
        """One call told to apply both skills in turn and end with a fixed answer line.

        The textual skill's instruction may name its bound input (``{objects}``): in one call
        there is no such input (the model produces it in its reasoning line), so it is named in
        words (``the objects``).
        """
        reasoning, answer = text_format(self.visual.output), text_format(self.textual.output)
        if reasoning is None or answer is None:
            raise TypeError(
                f"composition {self.name!r}: chain-of-thought needs text-form outputs "
                f"(a JSON output cannot share a line-based answer format; "
                f"got {type_name(self.visual.output)}, {type_name(self.textual.output)})"
            )
        output = chain_of_thought_type(reasoning, answer)
        then = _name_inputs(self.textual.instruction, {self.bind: f"the {self.bind.replace('_', ' ')}"})
        steps = (
            f"{self.question} First {_lower_first(self.visual.instruction)} "
            f"Then {_lower_first(then)}"
        )
        budget = self.visual.max_tokens + len(ANSWER_LINE) + 1 + self.textual.max_tokens
        return _derived(self, "cot", steps, output, budget)


def _derived(comp: Composition, kind: str, instruction: str, output: type, budget: int) -> Skill:
    return Skill(
        name=f"{comp.name}.{kind}",
        inputs=comp.inputs,
        output=output,
        instruction=instruction,
        max_tokens=budget,
        description=f"{kind} composition of {comp.visual.name} and {comp.textual.name}",
    )
