"""Counting skills: list the coloured shapes in an image, then count those matching a query."""

from typing import Literal

from ._formats import Number, ObjectList
from ._skill import Image, skill

#: What a count can be asked about: a colour name or a shape name.
ObjectQuery = Literal["red", "green", "blue", "yellow", "circle", "square", "triangle"]


@skill(max_tokens=27)
def list_objects(image: Image) -> ObjectList:
    """List the objects in the image."""


@skill(max_tokens=3)
def count_objects(objects: ObjectList, query: ObjectQuery) -> Number:
    """Count the {query} objects in the list."""
