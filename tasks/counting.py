"""counting: coloured shapes in an image (list them, then count the ones matching a query)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar

from PIL import Image

from ..graphs._composition import Composition
from ..skills import count_objects, list_objects
from ..skills._formats import COLOURS, SHAPES, ObjectList, Shape
from ._generators import (
    COLOUR_RGB,
    Drawn,
    FloatValue,
    IntRange,
    KnobSpec,
    Letters,
    TaskGenerator,
    UnitPart,
    add_noise,
    draw_distractors,
    free_knobs,
    grid_canvas,
    grid_knobs,
    paint_mask,
    paste_in_cell,
    place_boxes,
    randint_in,
    unit_mask,
)
from ._task import Task

QUESTION = "How many {query} objects are in the image?"
#: Diameter in px of a circle in the grid layout (squares and triangles have similar area).
GRID_SHAPE_SIZE = 12
#: Object k of the grid layout sits in cell 3k (its code ``RC `` is three characters).
CELL_STRIDE = 3

_SHAPE_PARTS: dict[str, tuple[UnitPart, ...]] = {
    "C": (("ellipse", (0.0, 0.0, 1.0, 1.0)),),
    "S": (("poly", ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))),),
    "T": (("poly", ((0.5, 0.0), (1.0, 1.0), (0.0, 1.0))),),
}
#: Width and height of each shape relative to the circle's diameter.
_SHAPE_BOX: dict[str, tuple[float, float]] = {"C": (1.0, 1.0), "S": (0.88, 0.88), "T": (1.08, 1.0)}


@lru_cache(maxsize=512)
def shape_mask(shape: str, size: int) -> Image.Image:
    """Anti-aliased mask of shape code ``shape`` (C/S/T) for a circle diameter of ``size`` px."""
    rel_w, rel_h = _SHAPE_BOX[shape]
    return unit_mask(_SHAPE_PARTS[shape], max(1, round(rel_w * size)), max(1, round(rel_h * size)))


class Counting(TaskGenerator):
    name: ClassVar[str] = "counting"

    def knob_specs(self, layout: str) -> dict[str, KnobSpec]:
        grid = layout == "grid"
        specs = {
            "n_objects": KnobSpec((1, 9) if grid else (3, 9), IntRange(1, 9), "number of objects"),
            "colours": KnobSpec(
                "RGB" if grid else "RGBY", Letters("".join(COLOURS)), "colour codes to draw from"
            ),
            "shapes": KnobSpec("CST", Letters("".join(SHAPES)), "shape codes to draw from"),
            "shape_query_rate": KnobSpec(
                0.2, FloatValue(0.0, 1.0), "share of queries that name a shape, not a colour"
            ),
        }
        if grid:
            return specs | grid_knobs()
        return (
            specs
            | {
                "object_size": KnobSpec((24, 48), IntRange(6, 512), "object diameter range in px"),
            }
            | free_knobs()
        )

    def draw(self, rng: random.Random, layout: str, knobs: Mapping[str, Any]) -> Drawn:
        count = randint_in(rng, knobs["n_objects"])
        objects = [
            Shape(colour=rng.choice(knobs["colours"]), shape=rng.choice(knobs["shapes"]))
            for _ in range(count)
        ]
        if rng.random() < knobs["shape_query_rate"]:
            query, kind = SHAPES[rng.choice(knobs["shapes"])], "shape"
        else:
            query, kind = COLOURS[rng.choice(knobs["colours"])], "colour"
        derived: dict[str, Any] = {}
        if layout == "grid":
            image = grid_canvas()
            for k, item in enumerate(objects):
                mask = shape_mask(item.shape, GRID_SHAPE_SIZE)
                paste_in_cell(image, CELL_STRIDE * k, mask, COLOUR_RGB[item.colour], rng, knobs["jitter"])
            derived["jitter"] = knobs["jitter"]
        else:
            image, objects, drawn = self._draw_free(rng, objects, knobs)
            derived |= drawn
        listing = ObjectList(objects=tuple(objects))
        answer = listing.count(query)
        derived |= {
            "n_objects": count,
            "query": query,
            "query_kind": kind,
            "count": answer,
            "n_colours_present": len({item.colour for item in objects}),
            "n_shapes_present": len({item.shape for item in objects}),
            "noise": knobs["noise"],
        }
        image = add_noise(image, rng, knobs["noise"])
        return Drawn(image, str(answer), listing.render(), {"query": query}, derived)

    def _draw_free(
        self, rng: random.Random, objects: list[Shape], knobs: Mapping[str, Any]
    ) -> tuple[Image.Image, list[Shape], dict[str, Any]]:
        """Place objects at random without overlaps; returns them in reading order."""
        width, height = knobs["image_size"]
        image = Image.new("RGB", (width, height), (255, 255, 255))
        distractors = randint_in(rng, knobs["distractors"])
        draw_distractors(image, rng, distractors)
        sizes = [randint_in(rng, knobs["object_size"]) for _ in objects]
        angles = [rng.uniform(-knobs["rotation"], knobs["rotation"]) for _ in objects]
        margin = 0.03 * min(width, height)
        scale = 1.0
        while True:
            scaled = [max(4, round(size * scale)) for size in sizes]
            # A rotated shape stays inside its circumscribed square of side size * sqrt(2).
            boxes = [(s * 1.5, s * 1.5) if knobs["rotation"] else (s * 1.1, s * 1.1) for s in scaled]
            centres = place_boxes(rng, boxes, (width, height), margin, gap=0.15 * min(scaled))
            if centres is not None:
                break
            if max(scaled) <= 4:
                raise ValueError(
                    f"cannot place {len(objects)} objects in a {width}x{height} image; "
                    "use a larger image_size or fewer n_objects"
                )
            scale *= 0.85
        for item, size, angle, centre in zip(objects, scaled, angles, centres, strict=True):
            paint_mask(
                image,
                shape_mask(item.shape, size),
                COLOUR_RGB[item.colour],
                centre,
                angle if item.shape != "C" else 0.0,
            )
        # Reading order: top to bottom, then left to right (by centre).
        order = sorted(range(len(objects)), key=lambda i: (centres[i][1], centres[i][0]))
        return (
            image,
            [objects[i] for i in order],
            {
                "object_size": [min(scaled), max(scaled)],
                "rotation": round(max((abs(a) for a in angles), default=0.0), 2),
                "distractors": distractors,
                "image_size": [width, height],
            },
        )


#: The task: list the objects, then count those matching the query.
TASK = Task(Composition("counting", list_objects, count_objects, QUESTION), generator=Counting(),
            source=__name__)
