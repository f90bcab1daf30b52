"""rendered_text: an arithmetic expression rendered into an image (read it, then solve it)."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar

from PIL import Image, ImageDraw

from ..graphs._composition import Composition
from ..skills import read_expression, solve_expression
from ..skills._formats import Expression
from ._generators import (
    GRID_FONT_SIZE,
    INK,
    Choice,
    Drawn,
    IntRange,
    IntValue,
    KnobSpec,
    Letters,
    TaskGenerator,
    add_noise,
    draw_distractors,
    free_knobs,
    glyph_mask,
    grid_canvas,
    grid_knobs,
    paint_mask,
    paste_in_cell,
    randint_in,
    rotated_size,
)
from ._task import Task

QUESTION = "What is the result of the expression in the image?"
#: The Number format holds at most four digits.
MAX_ABS_RESULT = 9999


def make_expression(
    rng: random.Random,
    n_operands: tuple[int, int],
    min_operand: int,
    max_operand: int,
    ops: str,
    allow_negative: bool,
    tries: int = 1000,
) -> str:
    """A random expression text (``3+4-2``) meeting the knobs; divisions are always exact."""
    for _ in range(tries):
        count = randint_in(rng, n_operands)
        first = rng.randint(min_operand, max_operand)
        parts = [str(first)]
        term = first  # value of the product/quotient term being built, for exact division
        ok = True
        for _ in range(count - 1):
            op = rng.choice(ops)
            if op == "/":
                divisors = [d for d in range(max(min_operand, 1), max_operand + 1) if term % d == 0]
                if not divisors:
                    ok = False
                    break
                # Dividing by 1 is trivial: prefer another exact divisor when there is one.
                value = rng.choice([d for d in divisors if d != 1] or divisors)
                term //= value
            else:
                value = rng.randint(min_operand, max_operand)
                term = term * value if op == "*" else value
            parts += [op, str(value)]
        if not ok:
            continue
        text = "".join(parts)
        result = Expression(text=text).evaluate()
        if abs(result) <= MAX_ABS_RESULT and (allow_negative or result >= 0):
            return text
    raise ValueError(
        f"cannot draw an expression with n_operands={n_operands}, min_operand={min_operand}, "
        f"max_operand={max_operand}, ops={ops!r}, allow_negative={allow_negative}: "
        "loosen the knobs (e.g. allow_negative=True or a wider operand range)"
    )


@lru_cache(maxsize=256)
def _operator_mask(op: str, size: int) -> Image.Image:
    """Mask of an operator at font ``size``: ``+`` from the font; ``−``, ``×`` and ``÷`` drawn.

    The built-in font has no ``−``/``×``/``÷`` glyphs (its hyphen is short), so they are drawn
    with the font's stroke width in a box the size of its ``+``.
    """
    if op == "+":
        return glyph_mask(op, size)
    plus = glyph_mask("+", size)
    stroke = max(1.0, 0.062 * size)  # about the stem width of the built-in font
    scale = 4
    width, height = plus.size
    big = Image.new("L", (width * scale, height * scale), 0)
    draw = ImageDraw.Draw(big)
    w, h, s = width * scale, height * scale, round(stroke * scale)
    if op == "*":
        inset = s * 0.5 + 0.12 * w
        draw.line([(inset, inset), (w - inset, h - inset)], fill=255, width=s)
        draw.line([(inset, h - inset), (w - inset, inset)], fill=255, width=s)
    elif op == "-":
        draw.rectangle((0, h / 2 - s / 2, w - 1, h / 2 + s / 2), fill=255)
    elif op == "/":
        draw.rectangle((0, h / 2 - s / 2, w - 1, h / 2 + s / 2), fill=255)
        radius = s * 0.9
        for cy in (radius, h - radius):
            draw.ellipse((w / 2 - radius, cy - radius, w / 2 + radius, cy + radius), fill=255)
    else:
        raise ValueError(f"unknown operator {op!r}")
    return big.resize((width, height), Image.Resampling.BOX)


def expression_mask(text: str, size: int, spaced: bool) -> Image.Image:
    """Mask of an expression at font ``size``: numbers and operators centred on one line."""
    tokens = re.findall(r"[0-9]+|[-+*/]", text)
    masks = [glyph_mask(t, size) if t[0].isdigit() else _operator_mask(t, size) for t in tokens]
    gap = round(size * (0.28 if spaced else 0.08))
    height = max(m.size[1] for m in masks)
    width = sum(m.size[0] for m in masks) + gap * (len(masks) - 1)
    pad = 2
    tile = Image.new("L", (width + 2 * pad, height + 2 * pad), 0)
    x = pad
    for mask in masks:
        tile.paste(mask, (x, pad + (height - mask.size[1]) // 2))
        x += mask.size[0] + gap
    return tile


class RenderedText(TaskGenerator):
    name: ClassVar[str] = "rendered_text"

    def knob_specs(self, layout: str) -> dict[str, KnobSpec]:
        grid = layout == "grid"
        specs = {
            "n_operands": KnobSpec((2, 3) if grid else (2, 4), IntRange(2, 6), "number of operands"),
            "min_operand": KnobSpec(0, IntValue(0, 999), "smallest operand"),
            "max_operand": KnobSpec(9 if grid else 99, IntValue(1, 999), "largest operand"),
            "ops": KnobSpec("+-" if grid else "+-*", Letters("+-*/"), "operators to draw from"),
            "allow_negative": KnobSpec(False, Choice((False, True)), "whether the result may be negative"),
        }
        if grid:
            return specs | grid_knobs()
        return (
            specs
            | {
                "font_size": KnobSpec((24, 48), IntRange(8, 256), "font size range in points"),
                "spaced": KnobSpec(True, Choice((True, False)), "spaces around operators"),
            }
            | free_knobs()
        )

    def check_knobs(self, layout: str, knobs: dict[str, Any]) -> None:
        if knobs["min_operand"] > knobs["max_operand"]:
            raise ValueError(
                f"bad value for knob 'min_operand': {knobs['min_operand']} is larger than "
                f"max_operand={knobs['max_operand']}; allowed: min_operand <= max_operand"
            )

    def draw(self, rng: random.Random, layout: str, knobs: Mapping[str, Any]) -> Drawn:
        text = make_expression(
            rng,
            knobs["n_operands"],
            knobs["min_operand"],
            knobs["max_operand"],
            knobs["ops"],
            knobs["allow_negative"],
        )
        result = Expression(text=text).evaluate()
        numbers = [int(t) for t in re.findall(r"[0-9]+", text)]
        derived: dict[str, Any] = {
            "n_operands": len(numbers),
            "n_chars": len(text),
            "max_operand": max(numbers),
            "max_digits": max(len(str(v)) for v in numbers),
            "ops_used": "".join(op for op in "+-*/" if op in text),
            "negative_result": result < 0,
            "allow_negative": knobs["allow_negative"],
        }
        if layout == "grid":
            image = grid_canvas()
            for cell, char in enumerate(text):
                paste_in_cell(image, cell, glyph_mask(char, GRID_FONT_SIZE), INK, rng, knobs["jitter"])
            derived |= {"font_size": GRID_FONT_SIZE, "jitter": knobs["jitter"]}
        else:
            image, drawn = self._draw_free(rng, text, knobs)
            derived |= drawn
        derived["noise"] = knobs["noise"]
        image = add_noise(image, rng, knobs["noise"])
        return Drawn(image, str(result), text, {}, derived)

    def _draw_free(
        self, rng: random.Random, text: str, knobs: Mapping[str, Any]
    ) -> tuple[Image.Image, dict[str, Any]]:
        width, height = knobs["image_size"]
        image = Image.new("RGB", (width, height), (255, 255, 255))
        distractors = randint_in(rng, knobs["distractors"])
        draw_distractors(image, rng, distractors)
        size = randint_in(rng, knobs["font_size"])
        angle = rng.uniform(-knobs["rotation"], knobs["rotation"])
        margin = 0.04 * min(width, height)
        while True:
            mask = expression_mask(text, size, knobs["spaced"])
            box_w, box_h = rotated_size(*mask.size, angle)
            if (box_w <= width - 2 * margin and box_h <= height - 2 * margin) or size <= 6:
                break
            size = max(6, int(size * 0.9))
        centre = (
            rng.uniform(min(width / 2, margin + box_w / 2), max(width / 2, width - margin - box_w / 2)),
            rng.uniform(min(height / 2, margin + box_h / 2), max(height / 2, height - margin - box_h / 2)),
        )
        colour = (rng.randint(0, 60), rng.randint(0, 60), rng.randint(0, 60))
        paint_mask(image, mask, colour, centre, angle)
        return image, {
            "font_size": size,
            "rotation": round(angle, 2),
            "distractors": distractors,
            "image_size": [width, height],
        }


#: The task: read the expression, then solve it.
TASK = Task(
    Composition("rendered_text", read_expression, solve_expression, QUESTION),
    generator=RenderedText(),
    source=__name__,
)
