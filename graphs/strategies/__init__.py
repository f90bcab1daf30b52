"""The built-in strategies, one file each: direct, cascaded, chain-of-thought."""

from .cascaded import cascaded
from .cot import cot
from .direct import direct

__all__ = ["cascaded", "cot", "direct"]
