"""A new task in one file: read a fruit's colour in the image, then name the fruit of that colour.

    skillgap eval --backend mock --tasks examples/extending/my_task.py@colour_fruit --n 8
"""

import random
from typing import ClassVar, Self

from PIL import Image

import skillgap as sg

FRUIT = {"red": "cherry", "yellow": "banana", "green": "lime", "purple": "plum"}
RGB = {"red": (220, 20, 20), "yellow": (230, 200, 0), "green": (0, 150, 0), "purple": (120, 40, 160)}


class Word(sg.TextFormat):
    """One lower-case word; its text form is the word itself."""

    pattern: ClassVar[str] = r"[a-z]{1,12}"
    format_hint: ClassVar[str] = "Answer with one word."
    value: str

    @classmethod
    def _from_text(cls, text: str) -> Self:
        return cls(value=text)

    def render(self) -> str:
        return self.value


@sg.skill(max_tokens=4)
def read_colour(image: sg.Image) -> Word:
    """Name the colour of the fruit in the image."""


@sg.skill(max_tokens=4)
def fruit_of(colour: Word) -> Word:
    """Name the fruit that has this colour."""


@sg.task(visual=read_colour, textual=fruit_of, question="Which fruit is shown in the image?")
def colour_fruit(rng: random.Random) -> sg.Drawn:
    colour = rng.choice(sorted(FRUIT))
    return sg.Drawn(image=Image.new("RGB", (32, 32), RGB[colour]), answer=FRUIT[colour],
                    intermediate=colour)
