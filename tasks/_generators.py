"""Procedural, seeded task generators: the shared machinery, the knob checks and the registry.

Every reference task (``rendered_text``, ``counting``, ``cards``) renders in two layouts:

- ``grid``: the native input of the embedded tiny model (see TINY_MODEL.md). An 80×80 RGB image
  that is a 5×5 grid of 16×16 cells, white background, one glyph / shape / card rank / suit
  symbol centred in its cell with a ±1 px jitter, in fixed slots (expression character j in cell
  j; object k in cell 3k; card k's rank in cell 3k and its suit in cell 3k+1).
- ``free``: natural placement for real MLLMs (configurable image size, random positions, font
  sizes, rotation, distractor lines and pixel noise).

``generate(task, n, seed=..., layout=..., **knobs)`` is deterministic: each sample draws from its
own random generator derived from (task, layout, seed, index), so the same arguments give
byte-identical images and a shorter suite is a prefix of a longer one.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..backends._types import ImageRef
from ._sample import Sample

__all__ = [
    "CELL",
    "COLOUR_RGB",
    "GRID_CELLS",
    "GRID_SIZE",
    "LAYOUTS",
    "Choice",
    "Drawn",
    "FloatValue",
    "IntRange",
    "IntValue",
    "KnobSpec",
    "Letters",
    "SizePair",
    "TaskGenerator",
    "free_knobs",
    "generate",
    "grid_knobs",
    "knob_defaults",
    "sample_rng",
]

LAYOUTS: tuple[str, ...] = ("grid", "free")

#: Grid layout geometry: GRID_CELLS × GRID_CELLS cells of CELL pixels (patch-aligned).
GRID_CELLS = 5
CELL = 16
GRID_SIZE = GRID_CELLS * CELL

WHITE = (255, 255, 255)
INK = (0, 0, 0)
#: Fill colour of each colour code (shapes, and red suits use ``R``).
COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "R": (220, 20, 20),
    "G": (0, 150, 0),
    "B": (20, 40, 220),
    "Y": (230, 180, 0),
}
#: Point size of the default (Aileron) font for grid glyphs: ink at most 13 px high.
GRID_FONT_SIZE = 16


# --------------------------------------------------------------------------------------------
# Knobs
# --------------------------------------------------------------------------------------------


class _Check(ABC):
    """Validates and normalises one knob value; raises ``ValueError`` naming the knob."""

    @abstractmethod
    def __call__(self, name: str, value: Any) -> Any: ...

    @abstractmethod
    def allowed(self) -> str: ...

    def fail(self, name: str, value: Any) -> ValueError:
        return ValueError(f"bad value for knob {name!r}: {value!r}; allowed: {self.allowed()}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


@dataclass(frozen=True)
class IntValue(_Check):
    lo: int
    hi: int

    def __call__(self, name: str, value: Any) -> int:
        if not _is_int(value) or not self.lo <= value <= self.hi:
            raise self.fail(name, value)
        return int(value)

    def allowed(self) -> str:
        return f"an integer from {self.lo} to {self.hi}"


@dataclass(frozen=True)
class IntRange(_Check):
    """An integer or an inclusive ``(low, high)`` pair; normalised to a pair."""

    lo: int
    hi: int

    def __call__(self, name: str, value: Any) -> tuple[int, int]:
        if _is_int(value):
            pair = (int(value), int(value))
        elif (
            isinstance(value, Sequence)
            and not isinstance(value, str)
            and len(value) == 2
            and all(_is_int(v) for v in value)
        ):
            pair = (int(value[0]), int(value[1]))
        else:
            raise self.fail(name, value)
        if not self.lo <= pair[0] <= pair[1] <= self.hi:
            raise self.fail(name, value)
        return pair

    def allowed(self) -> str:
        return f"an integer or a (low, high) pair with {self.lo} <= low <= high <= {self.hi}"


@dataclass(frozen=True)
class FloatValue(_Check):
    lo: float
    hi: float

    def __call__(self, name: str, value: Any) -> float:
        if not _is_number(value) or not self.lo <= float(value) <= self.hi:
            raise self.fail(name, value)
        return float(value)

    def allowed(self) -> str:
        return f"a number from {self.lo:g} to {self.hi:g}"


@dataclass(frozen=True)
class Letters(_Check):
    """A non-empty set of letters from ``alphabet``; normalised to the alphabet's order."""

    alphabet: str

    def __call__(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or not value or any(c not in self.alphabet for c in value):
            raise self.fail(name, value)
        return "".join(c for c in self.alphabet if c in value)

    def allowed(self) -> str:
        return f"a non-empty string of letters from {self.alphabet!r}"


@dataclass(frozen=True)
class Choice(_Check):
    options: tuple[Any, ...]

    def __call__(self, name: str, value: Any) -> Any:
        if value not in self.options or isinstance(value, bool) != isinstance(self.options[0], bool):
            raise self.fail(name, value)
        return value

    def allowed(self) -> str:
        return " or ".join(repr(o) for o in self.options)


@dataclass(frozen=True)
class SizePair(_Check):
    """An image size ``(width, height)``."""

    lo: int
    hi: int

    def __call__(self, name: str, value: Any) -> tuple[int, int]:
        if (
            isinstance(value, Sequence)
            and not isinstance(value, str)
            and len(value) == 2
            and all(_is_int(v) and self.lo <= v <= self.hi for v in value)
        ):
            return (int(value[0]), int(value[1]))
        raise self.fail(name, value)

    def allowed(self) -> str:
        return f"a (width, height) pair of integers from {self.lo} to {self.hi}"


@dataclass(frozen=True)
class KnobSpec:
    """A difficulty knob: its default (already valid), its check and one line of help."""

    default: Any
    check: _Check
    help: str = ""


def grid_knobs() -> dict[str, KnobSpec]:
    """Knobs every task has in the grid layout."""
    return {
        "jitter": KnobSpec(
            1, IntValue(0, 3), "max offset in px of a glyph from its cell centre (kept in cell)"
        ),
        "noise": KnobSpec(0.0, FloatValue(0.0, 1.0), "std of Gaussian pixel noise, × 255"),
    }


def free_knobs() -> dict[str, KnobSpec]:
    """Knobs every task has in the free layout."""
    return {
        "image_size": KnobSpec((320, 240), SizePair(64, 2048), "image (width, height) in px"),
        "rotation": KnobSpec(0.0, FloatValue(0.0, 45.0), "max rotation in degrees"),
        "distractors": KnobSpec((0, 0), IntRange(0, 50), "number of grey distractor lines"),
        "noise": KnobSpec(0.0, FloatValue(0.0, 1.0), "std of Gaussian pixel noise, × 255"),
    }


# --------------------------------------------------------------------------------------------
# Task generators
# --------------------------------------------------------------------------------------------


@dataclass
class Drawn:
    """What a task draws for one sample; ``generate`` turns it into a ``Sample``."""

    image: Image.Image
    answer: str
    #: The gold output of the visual skill, in its text form (``RC BS``); None when unknown.
    intermediate: str | None = None
    #: Textual inputs besides the image (``{"query": "red"}``); they fill the question template.
    inputs: dict[str, Any] = field(default_factory=dict)
    #: Derived difficulty of this very sample (``n_objects``, ``font_size``, ...).
    derived: dict[str, Any] = field(default_factory=dict)
    #: A question of this sample's own; by default the task's template filled with ``inputs``.
    question: str | None = None


class TaskGenerator(ABC):
    """A procedural task: declares its knobs per layout and draws one sample from an RNG."""

    name: ClassVar[str]
    layouts: ClassVar[tuple[str, ...]] = LAYOUTS

    @abstractmethod
    def knob_specs(self, layout: str) -> dict[str, KnobSpec]:
        """The knobs of ``layout`` with their defaults and checks."""

    def check_knobs(self, layout: str, knobs: dict[str, Any]) -> None:  # noqa: B027
        """Checks across knobs (after each knob passed its own check); raise ``ValueError``."""

    @abstractmethod
    def draw(self, rng: random.Random, layout: str, knobs: Mapping[str, Any]) -> Drawn:
        """Draw one sample; all randomness must come from ``rng``."""

    def resolve_knobs(self, layout: str, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``, each checked; raises ``ValueError`` naming the knob."""
        check_layout(layout, self.layouts)
        specs = self.knob_specs(layout)
        unknown = sorted(set(given) - set(specs))
        if unknown:
            raise ValueError(
                f"unknown knob(s) {', '.join(map(repr, unknown))} for task {self.name!r} in the "
                f"{layout!r} layout; allowed knobs: {', '.join(sorted(specs))}"
            )
        resolved = {name: spec.default for name, spec in specs.items()}
        for name, value in given.items():
            resolved[name] = specs[name].check(name, value)
        self.check_knobs(layout, resolved)
        return resolved


def check_layout(layout: str, layouts: Sequence[str] = LAYOUTS) -> None:
    if layout not in layouts:
        raise ValueError(f"unknown layout {layout!r}; allowed layouts: {', '.join(layouts)}")


def knob_defaults(task: str, layout: str = "grid") -> dict[str, Any]:
    """The default knobs of ``task`` in ``layout``."""
    from ._task import get_generator

    generator = get_generator(task)
    check_layout(layout, generator.layouts)
    return {name: spec.default for name, spec in generator.knob_specs(layout).items()}


def sample_rng(task: str, layout: str, seed: int, index: int) -> random.Random:
    """The RNG of one sample: a function of (task, layout, seed, index) only (SHA-512 seeded)."""
    return random.Random(f"skillgap/{task}/{layout}/{seed}/{index}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def generate(task: str, n: int, *, seed: int = 0, layout: str = "grid", **knobs: Any) -> list[Sample]:
    """Generate ``n`` samples of ``task``; deterministic in (task, n, seed, layout, knobs).

    Raises ``ValueError`` for an unknown task, layout or knob, or a bad knob value.
    """
    from ._task import get_generator, get_task

    template = get_task(task)
    generator = get_generator(task)
    if not _is_int(n) or n < 0:
        raise ValueError(f"bad value for n: {n!r}; allowed: an integer >= 0")
    if not _is_int(seed):
        raise ValueError(f"bad value for seed: {seed!r}; allowed: an integer")
    resolved = generator.resolve_knobs(layout, knobs)
    recorded = _jsonable(resolved)
    digest = hashlib.sha256(json.dumps(recorded, sort_keys=True).encode()).hexdigest()[:10]
    samples = []
    for index in range(n):
        drawn = generator.draw(sample_rng(task, layout, seed, index), layout, resolved)
        sample_id = f"{task}-s{seed}-{index:06d}"
        image = ImageRef.from_pil(drawn.image, key=f"{sample_id}-{layout}-{digest}")
        samples.append(
            Sample(
                id=sample_id,
                task=task,
                image=image,
                question=drawn.question or template.question_for(drawn.inputs),
                answer=drawn.answer,
                intermediate=drawn.intermediate,
                inputs=drawn.inputs,
                difficulty={"layout": layout, **drawn.derived, "knobs": recorded},
                image_id=sample_id,
            )
        )
    return samples


# --------------------------------------------------------------------------------------------
# Drawing helpers
# --------------------------------------------------------------------------------------------


def randint_in(rng: random.Random, bounds: tuple[int, int]) -> int:
    return rng.randint(bounds[0], bounds[1])


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in scalable font (Aileron Regular) at ``size`` points."""
    loaded = ImageFont.load_default(size=size)
    assert isinstance(loaded, ImageFont.FreeTypeFont), "Pillow was built without FreeType"
    return loaded


@lru_cache(maxsize=1024)
def glyph_mask(text: str, size: int) -> Image.Image:
    """Anti-aliased ink of ``text`` at ``size`` points, cropped to its ink (mode ``L``)."""
    face = font(size)
    left, top, right, bottom = (int(v) for v in face.getbbox(text))
    pad = 2
    canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), text, font=face, fill=255)
    box = canvas.getbbox()
    return canvas.crop(box) if box else canvas.crop((0, 0, 1, 1))


#: A drawing in unit coordinates: ("poly", ((x, y), ...)) or ("ellipse", (x0, y0, x1, y1)).
UnitPart = tuple[str, tuple[Any, ...]]


def unit_mask(parts: Sequence[UnitPart], width: int, height: int, supersample: int = 4) -> Image.Image:
    """Rasterise unit-square parts into an anti-aliased ``width × height`` mask (mode ``L``)."""
    big_w, big_h = width * supersample, height * supersample
    big = Image.new("L", (big_w, big_h), 0)
    draw = ImageDraw.Draw(big)
    for kind, coords in parts:
        if kind == "poly":
            draw.polygon([(x * big_w, y * big_h) for x, y in coords], fill=255)
        elif kind == "ellipse":
            x0, y0, x1, y1 = coords
            draw.ellipse((x0 * big_w, y0 * big_h, x1 * big_w - 1, y1 * big_h - 1), fill=255)
        else:
            raise ValueError(f"unknown part kind {kind!r}")
    return big.resize((width, height), Image.Resampling.BOX)


def grid_canvas() -> Image.Image:
    return Image.new("RGB", (GRID_SIZE, GRID_SIZE), WHITE)


def paste_in_cell(
    image: Image.Image,
    cell: int,
    mask: Image.Image,
    colour: tuple[int, int, int],
    rng: random.Random,
    jitter: int,
) -> None:
    """Paint ``mask`` in ``colour`` centred in grid cell ``cell`` (row-major), ± ``jitter`` px.

    The jitter is drawn even when clamped, so the RNG stream does not depend on glyph sizes.
    """
    if not 0 <= cell < GRID_CELLS * GRID_CELLS:
        raise ValueError(f"cell {cell} is outside the {GRID_CELLS}x{GRID_CELLS} grid")
    width, height = mask.size
    if width > CELL or height > CELL:
        raise ValueError(f"a {width}x{height} mask does not fit a {CELL}x{CELL} cell")
    row, col = divmod(cell, GRID_CELLS)
    dx = rng.randint(-jitter, jitter)
    dy = rng.randint(-jitter, jitter)
    # The offset is clamped so the mask never leaves its cell.
    x = col * CELL + min(max((CELL - width) // 2 + dx, 0), CELL - width)
    y = row * CELL + min(max((CELL - height) // 2 + dy, 0), CELL - height)
    image.paste(colour, (x, y, x + width, y + height), mask)


def paint_mask(
    image: Image.Image,
    mask: Image.Image,
    colour: tuple[int, int, int],
    centre: tuple[float, float],
    angle: float = 0.0,
) -> tuple[int, int, int, int]:
    """Paint ``mask`` in ``colour`` centred at ``centre``, rotated by ``angle`` degrees.

    Returns the painted box (left, top, right, bottom).
    """
    if angle:
        mask = mask.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    width, height = mask.size
    x = round(centre[0] - width / 2)
    y = round(centre[1] - height / 2)
    image.paste(colour, (x, y, x + width, y + height), mask)
    return (x, y, x + width, y + height)


def paste_tile(
    image: Image.Image, tile: Image.Image, centre: tuple[float, float], angle: float = 0.0
) -> tuple[int, int, int, int]:
    """Paste an RGBA ``tile`` centred at ``centre``, rotated by ``angle`` degrees."""
    if angle:
        tile = tile.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    width, height = tile.size
    x = round(centre[0] - width / 2)
    y = round(centre[1] - height / 2)
    image.paste(tile, (x, y), tile)
    return (x, y, x + width, y + height)


def rotated_size(width: float, height: float, angle: float) -> tuple[float, float]:
    """Bounding box of a ``width × height`` rectangle rotated by up to ``angle`` degrees."""
    if not angle:
        return width, height
    rad = math.radians(min(abs(angle), 90.0))
    cos, sin = math.cos(rad), math.sin(rad)
    return width * cos + height * sin, width * sin + height * cos


def draw_distractors(image: Image.Image, rng: random.Random, count: int) -> None:
    """Draw ``count`` thin grey lines and arcs across the image (never filled shapes)."""
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(count):
        grey = rng.randint(120, 200)
        line_width = rng.randint(1, max(1, min(width, height) // 120))
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        if rng.random() < 0.6:
            length = rng.uniform(0.1, 0.5) * min(width, height)
            theta = rng.uniform(0, 2 * math.pi)
            end = (x0 + length * math.cos(theta), y0 + length * math.sin(theta))
            draw.line([(x0, y0), end], fill=(grey, grey, grey), width=line_width)
        else:
            radius = rng.uniform(0.05, 0.25) * min(width, height)
            start = rng.uniform(0, 360)
            draw.arc(
                (x0 - radius, y0 - radius, x0 + radius, y0 + radius),
                start,
                start + rng.uniform(60, 200),
                fill=(grey, grey, grey),
                width=line_width,
            )


def add_noise(image: Image.Image, rng: random.Random, noise: float) -> Image.Image:
    """Gaussian pixel noise with std ``noise × 255`` (seeded from ``rng``); returns a new image."""
    if noise <= 0:
        return image
    generator = np.random.default_rng(rng.getrandbits(64))
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + generator.normal(0.0, noise * 255.0, size=pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")


def place_boxes(
    rng: random.Random,
    sizes: Sequence[tuple[float, float]],
    area: tuple[int, int],
    margin: float,
    gap: float,
    tries: int = 200,
) -> list[tuple[float, float]] | None:
    """Random centres for boxes of ``sizes`` inside ``area``, ``gap`` px apart; None if no fit."""
    width, height = area
    placed: list[tuple[float, float, float, float]] = []
    for box_w, box_h in sizes:
        lo_x, hi_x = margin + box_w / 2, width - margin - box_w / 2
        lo_y, hi_y = margin + box_h / 2, height - margin - box_h / 2
        if lo_x > hi_x or lo_y > hi_y:
            return None
        for _ in range(tries):
            cx, cy = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)
            box = (cx - box_w / 2, cy - box_h / 2, cx + box_w / 2, cy + box_h / 2)
            if all(
                box[2] + gap <= other[0]
                or other[2] + gap <= box[0]
                or box[3] + gap <= other[1]
                or other[3] + gap <= box[1]
                for other in placed
            ):
                placed.append(box)
                break
        else:
            return None
    return [((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in placed]
