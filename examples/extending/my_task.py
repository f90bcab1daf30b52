"""A new task in one file: read a fruit's colour in the image, then name the fruit of that colour.

    skillgap eval --backend mock --tasks examples/extending/my_task.py@colour_fruit --n 8
"""

import random
from typing import Literal

from PIL import Image

import skillgap as sg

FRUIT = {"red": "cherry", "yellow": "banana", "green": "lime", "purple": "plum"}
RGB = {"red": (220, 20, 20), "yellow": (230, 200, 0), "green": (0, 150, 0), "purple": (120, 40, 160)}
Colour = Literal["red", "yellow", "green", "purple"]
Fruit = Literal["cherry", "banana", "lime", "plum"]


@sg.skill
def read_colour(image: sg.Image) -> Colour:
    """Name the colour of the fruit in the image."""


@sg.skill
def fruit_of(colour: Colour) -> Fruit:
    """Name the fruit that has this colour."""


@sg.task(visual=read_colour, textual=fruit_of, question="Which fruit is shown in the image?")
def colour_fruit(rng: random.Random) -> sg.Drawn:
    colour = rng.choice(sorted(FRUIT))
    return sg.Drawn(image=Image.new("RGB", (32, 32), RGB[colour]), answer=FRUIT[colour],
                    intermediate=colour)
