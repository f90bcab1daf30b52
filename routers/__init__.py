"""Routers pick, per input, the composition or executor most likely to be right at least cost.

Only the protocol lives here so far; built-in routers arrive with their own issue.
"""

from ._router import RouteDecision, Router

__all__ = ["RouteDecision", "Router"]
