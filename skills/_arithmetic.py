"""Rendered-text skills: read the expression in an image, then solve it."""

from ._formats import Expression, Number
from ._skill import Image, skill


@skill(max_tokens=12)
def read_expression(image: Image) -> Expression:
    """Read the arithmetic expression in the image."""


@skill(max_tokens=6)
def solve_expression(expression: Expression) -> Number:
    """Compute the value of the expression."""
