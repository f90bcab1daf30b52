"""The strategy registry: a name -> ``Strategy`` map filled by ``@register_strategy`` and entry points.

A strategy turns a composition into a skill graph and says how it is measured: its cost rank
(cheapest first: the oracle's tie-break and the order routers escalate in), what it is judged on
(the composed ``answer``, or the visual skill's ``intermediate``) and what it measures (a
``composition`` strategy answers the composed question; a ``skill`` measurement runs one skill
alone and needs the sample's gold intermediate). Everything that lists strategies — CLI choices,
router branches, the oracle's cost order, the summary's order, the runner's skill steps — asks here.

Third-party packages add strategies through the ``skillgap.strategies`` entry-point group; each
entry point names a module (imported for its decorators) or a ``module:attribute``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module, metadata
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .._composition import Composition
    from .._graph import SkillGraph

#: Builds a strategy's graph for a composition.
Builder = Callable[["Composition"], "SkillGraph"]
JudgedOn = Literal["answer", "intermediate"]
Measures = Literal["composition", "skill"]

ENTRY_POINT_GROUP = "skillgap.strategies"

# The built-ins, one module each, imported on first look-up (their decorators fill the registry).
_BUILTIN_MODULES = ("direct", "cascaded", "cot", "visual", "textual")


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: its graph builder and how it is measured.

    Attributes:
        name: the step name in configs, records and summaries.
        build: composition -> ``SkillGraph``.
        cost_rank: cheapest first; ties in correctness go to the lower rank.
        judged_on: ``answer`` (the composed question's gold) or ``intermediate`` (the visual
            skill's gold text form).
        measures: ``composition`` (answers the composed question; routable) or ``skill`` (one
            skill alone; needs a gold intermediate; run when an eval measures skills).
        feeds_intermediate: the graph takes the gold intermediate as its bound input (the
            textual skill alone).
        reused_from: ``(strategy, node)`` whose node result is this measurement, so a run of that
            strategy records it without a second call (the cascade's first step is the visual
            skill alone).
    """

    name: str
    build: Builder
    cost_rank: int
    judged_on: JudgedOn = "answer"
    measures: Measures = "composition"
    feeds_intermediate: bool = False
    reused_from: tuple[str, str] | None = None

    def __call__(self, composition: Composition) -> SkillGraph:
        return self.build(composition)


_strategies: dict[str, Strategy] = {}
_loaded = False


def register_strategy(
    name: str,
    *,
    cost_rank: int,
    judged_on: JudgedOn = "answer",
    measures: Measures = "composition",
    feeds_intermediate: bool = False,
    reused_from: tuple[str, str] | None = None,
    replace: bool = False,
) -> Callable[[Builder], Builder]:
    """Register a graph builder as the strategy ``name``; returns the builder unchanged.

    Example:
        >>> @register_strategy("hinted", cost_rank=30)  # doctest: +SKIP
        ... def hinted(composition: Composition) -> SkillGraph: ...
    """
    if judged_on not in ("answer", "intermediate"):
        raise ValueError(f"strategy {name!r}: judged_on must be 'answer' or 'intermediate'")
    if measures not in ("composition", "skill"):
        raise ValueError(f"strategy {name!r}: measures must be 'composition' or 'skill'")
    if not name.isidentifier():
        raise ValueError(f"strategy name {name!r} must be an identifier (it names records)")

    def add(build: Builder) -> Builder:
        made = Strategy(name, build, cost_rank, judged_on, measures, feeds_intermediate,
                        reused_from)
        known = _strategies.get(name)
        # Re-running a definition (a notebook cell, a re-import) brings an equal one back.
        if known is not None and not replace and not _same(known, made):
            raise ValueError(f"a different strategy {name!r} is already registered; pass "
                             "replace=True or pick another name")
        _strategies[name] = made
        return build

    return add


def _same(a: Strategy, b: Strategy) -> bool:
    def key(s: Strategy) -> tuple[object, ...]:
        code = getattr(s.build, "__qualname__", s.build)
        return (s.name, getattr(s.build, "__module__", None), code, s.cost_rank, s.judged_on,
                s.measures, s.feeds_intermediate, s.reused_from)

    return key(a) == key(b)


def unregister_strategy(name: str) -> None:
    """Remove ``name`` (built-ins included); mostly for tests and notebooks."""
    _load()
    _strategies.pop(name, None)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        import_module(f"{__package__}.{module}")
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        entry.load()  # importing the module runs its @register_strategy decorators
        if entry.name not in _strategies:
            raise ValueError(f"entry point {entry.name!r} ({entry.value}) of {ENTRY_POINT_GROUP} "
                             f"registered no strategy named {entry.name!r} (use @register_strategy)")


def get_strategy(name: str) -> Strategy:
    """The strategy ``name``; raises ``ValueError`` naming the known ones."""
    _load()
    try:
        return _strategies[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; choose one of: {', '.join(strategy_names(None))}"
        ) from None


def list_strategies(measures: Measures | None = "composition") -> list[Strategy]:
    """Registered strategies, built-ins first, then in registration order; ``measures=None``: all."""
    _load()
    # Built-ins in their canonical order whatever order their modules were imported in.
    builtin = [_strategies[n] for n in _BUILTIN_MODULES if n in _strategies]
    ordered = builtin + [s for n, s in _strategies.items() if n not in _BUILTIN_MODULES]
    return [s for s in ordered if measures is None or s.measures == measures]


def strategy_names(measures: Measures | None = "composition") -> list[str]:
    """Names of :func:`list_strategies`: the composition strategies unless told otherwise."""
    return [s.name for s in list_strategies(measures)]


def skill_steps() -> list[str]:
    """The skill-alone measurements (``visual``, ``textual``, and any registered)."""
    return strategy_names("skill")


def cost_order(names: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Composition strategies cheapest first (of ``names`` when given; unknown names last, sorted)."""
    ranked = sorted(list_strategies("composition"), key=lambda s: s.cost_rank)
    order = [s.name for s in ranked]
    if names is None:
        return order
    return [n for n in order if n in names] + sorted(set(names) - set(order))


def summary_order(names: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """Composition strategies in registration order, then any other (non-skill) names sorted."""
    names = set(names) - set(skill_steps())
    known = strategy_names("composition")
    return [n for n in known if n in names] + sorted(names - set(known))
