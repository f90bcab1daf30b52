"""cards: playing cards in an image (name them, then compute the hand's blackjack value)."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar

from PIL import Image, ImageDraw

from ..graphs._composition import Composition
from ..skills import read_cards, score_blackjack
from ..skills._formats import RANKS, SUITS, Card, CardHand
from ._generators import (
    COLOUR_RGB,
    GRID_FONT_SIZE,
    INK,
    Choice,
    Drawn,
    IntRange,
    KnobSpec,
    TaskGenerator,
    UnitPart,
    add_noise,
    draw_distractors,
    free_knobs,
    glyph_mask,
    grid_canvas,
    grid_knobs,
    paste_in_cell,
    paste_tile,
    randint_in,
    rotated_size,
    unit_mask,
)
from ._task import Task

QUESTION = "What is the blackjack value of this hand?"
#: Card k of the grid layout: rank in cell 3k, suit in cell 3k + 1, cell 3k + 2 blank.
CELL_STRIDE = 3
#: Side in px of a suit symbol in the grid layout.
GRID_SUIT_SIZE = 12
RED_SUITS = "DH"
DECK: tuple[str, ...] = tuple(rank + suit for rank in RANKS for suit in SUITS)


def _heart_outline(points: int = 72, top: float = 0.0, bottom: float = 1.0) -> tuple[Any, ...]:
    """The classic parametric heart, scaled to the unit width and ``top``..``bottom``."""
    raw = []
    for i in range(points):
        t = 2 * math.pi * i / points
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        raw.append((x, y))
    xs, ys = [p[0] for p in raw], [p[1] for p in raw]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    return tuple(((x - x0) / (x1 - x0), top + (bottom - top) * (y1 - y) / (y1 - y0)) for x, y in raw)


def _flip(outline: tuple[Any, ...], top: float, bottom: float) -> tuple[Any, ...]:
    return tuple((x, top + bottom - y) for x, y in outline)


_SUIT_PARTS: dict[str, tuple[UnitPart, ...]] = {
    "H": (("poly", _heart_outline()),),
    "D": (("poly", ((0.5, 0.0), (0.88, 0.5), (0.5, 1.0), (0.12, 0.5))),),
    "S": (
        ("poly", _flip(_heart_outline(top=0.0, bottom=0.78), 0.0, 0.78)),
        ("poly", ((0.5, 0.5), (0.74, 1.0), (0.26, 1.0))),
    ),
    "C": (
        ("ellipse", (0.27, 0.0, 0.73, 0.46)),
        ("ellipse", (0.0, 0.33, 0.46, 0.79)),
        ("ellipse", (0.54, 0.33, 1.0, 0.79)),
        ("poly", ((0.5, 0.4), (0.74, 1.0), (0.26, 1.0))),
    ),
}


@lru_cache(maxsize=512)
def suit_mask(suit: str, size: int) -> Image.Image:
    """Anti-aliased ``size × size`` mask of suit ``suit`` (C/D/H/S), drawn from polygons."""
    return unit_mask(_SUIT_PARTS[suit], size, size)


def suit_colour(suit: str) -> tuple[int, int, int]:
    return COLOUR_RGB["R"] if suit in RED_SUITS else INK


class Cards(TaskGenerator):
    name: ClassVar[str] = "cards"

    def knob_specs(self, layout: str) -> dict[str, KnobSpec]:
        grid = layout == "grid"
        specs = {
            "n_cards": KnobSpec((2, 3) if grid else (2, 5), IntRange(1, 6), "number of cards"),
        }
        if grid:
            return specs | grid_knobs()
        return (
            specs
            | {
                "card_height": KnobSpec((100, 140), IntRange(40, 1024), "card height range in px"),
                "ten_as": KnobSpec("10", Choice(("10", "T")), "how a ten's rank is printed"),
                "background": KnobSpec("felt", Choice(("felt", "white")), "table colour"),
            }
            | free_knobs()
        )

    def draw(self, rng: random.Random, layout: str, knobs: Mapping[str, Any]) -> Drawn:
        count = randint_in(rng, knobs["n_cards"])
        codes = rng.sample(DECK, count)
        hand = CardHand(cards=tuple(Card(rank=code[0], suit=code[1]) for code in codes))
        derived: dict[str, Any] = {}
        if layout == "grid":
            image = grid_canvas()
            for k, card in enumerate(hand.cards):
                rank = glyph_mask(card.rank, GRID_FONT_SIZE)
                paste_in_cell(image, CELL_STRIDE * k, rank, INK, rng, knobs["jitter"])
                suit = suit_mask(card.suit, GRID_SUIT_SIZE)
                paste_in_cell(
                    image,
                    CELL_STRIDE * k + 1,
                    suit,
                    suit_colour(card.suit),
                    rng,
                    knobs["jitter"],
                )
            derived["jitter"] = knobs["jitter"]
        else:
            image, drawn = self._draw_free(rng, hand, knobs)
            derived |= drawn
        value = hand.blackjack_value()
        hard = sum(10 if c.rank in "TJQK" else 1 if c.rank == "A" else int(c.rank) for c in hand.cards)
        derived |= {
            "n_cards": count,
            "n_aces": sum(c.rank == "A" for c in hand.cards),
            "n_tens": sum(c.rank in "TJQK" for c in hand.cards),
            "soft": value != hard,
            "bust": value > 21,
            "noise": knobs["noise"],
        }
        image = add_noise(image, rng, knobs["noise"])
        return Drawn(image, str(value), hand.render(), {}, derived)

    def _draw_free(
        self, rng: random.Random, hand: CardHand, knobs: Mapping[str, Any]
    ) -> tuple[Image.Image, dict[str, Any]]:
        """Cards left to right in hand order, overlapping when they must (indices stay clear)."""
        width, height = knobs["image_size"]
        if knobs["background"] == "felt":
            table = (30 + rng.randint(-8, 8), 110 + rng.randint(-12, 12), 60 + rng.randint(-8, 8))
        else:
            table = (255, 255, 255)
        image = Image.new("RGB", (width, height), table)
        distractors = randint_in(rng, knobs["distractors"])
        draw_distractors(image, rng, distractors)
        count = len(hand.cards)
        angles = [rng.uniform(-knobs["rotation"], knobs["rotation"]) for _ in hand.cards]
        max_angle = max((abs(a) for a in angles), default=0.0)
        margin = 0.03 * min(width, height)
        card_h = randint_in(rng, knobs["card_height"])
        while True:
            card_w = round(card_h * 0.7)
            box_w, box_h = rotated_size(card_w, card_h, max_angle)
            span = width - 2 * margin - box_w
            step = box_w * 1.08 if count == 1 else min(box_w * 1.08, span / (count - 1))
            if (box_h <= height - 2 * margin and step >= 0.42 * box_w) or card_h <= 24:
                break
            card_h = max(24, int(card_h * 0.9))
        used = box_w + step * (count - 1)
        left = margin + rng.uniform(0, max(0.0, width - 2 * margin - used))
        low_y = margin + box_h / 2
        high_y = max(low_y, height - margin - box_h / 2)
        base_y = rng.uniform(low_y, high_y)
        for k, (card, angle) in enumerate(zip(hand.cards, angles, strict=True)):
            tile = card_tile(card, card_w, card_h, knobs["ten_as"])
            cy = min(high_y, max(low_y, base_y + rng.uniform(-0.08, 0.08) * card_h))
            paste_tile(image, tile, (left + box_w / 2 + k * step, cy), angle)
        return image, {
            "card_height": card_h,
            "rotation": round(max_angle, 2),
            "overlap": round(max(0.0, 1 - step / box_w), 2) if count > 1 else 0.0,
            "distractors": distractors,
            "image_size": [width, height],
        }


@lru_cache(maxsize=256)
def card_tile(card: Card, width: int, height: int, ten_as: str) -> Image.Image:
    """An RGBA playing card: rounded white face, corner indices and a large central pip."""
    tile = Image.new("RGBA", (width, height), (250, 250, 250, 0))
    draw = ImageDraw.Draw(tile)
    radius = max(2, round(0.07 * width))
    border = max(1, round(height / 90))
    draw.rounded_rectangle(
        (0, 0, width - 1, height - 1),
        radius,
        fill=(252, 252, 250, 255),
        outline=(110, 110, 110, 255),
        width=border,
    )
    colour = suit_colour(card.suit)
    rank_text = ten_as if card.rank == "T" else card.rank
    index = corner_index(rank_text, card.suit, max(8, round(0.2 * height)))
    pad = max(2, round(0.06 * width))
    tile.paste(colour, (pad, pad, pad + index.size[0], pad + index.size[1]), index)
    flipped = index.rotate(180)
    x, y = width - pad - flipped.size[0], height - pad - flipped.size[1]
    tile.paste(colour, (x, y, x + flipped.size[0], y + flipped.size[1]), flipped)
    pip = suit_mask(card.suit, max(6, round(0.36 * width)))
    x, y = (width - pip.size[0]) // 2, (height - pip.size[1]) // 2
    tile.paste(colour, (x, y, x + pip.size[0], y + pip.size[1]), pip)
    return tile


def corner_index(rank_text: str, suit: str, font_size: int) -> Image.Image:
    """Mask of a card's corner index: the rank with its suit symbol below, centred."""
    rank = glyph_mask(rank_text, font_size)
    pip = suit_mask(suit, max(4, round(font_size * 0.62)))
    gap = max(1, font_size // 8)
    width = max(rank.size[0], pip.size[0])
    mask = Image.new("L", (width, rank.size[1] + gap + pip.size[1]), 0)
    mask.paste(rank, ((width - rank.size[0]) // 2, 0))
    mask.paste(pip, ((width - pip.size[0]) // 2, rank.size[1] + gap))
    return mask


#: The task: name the cards, then score the hand.
TASK = Task(Composition("cards", read_cards, score_blackjack, QUESTION), generator=Cards(),
            source=__name__)
