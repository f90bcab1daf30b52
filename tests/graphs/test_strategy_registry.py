"""The strategy and router registries: built-ins, decorators, and third-party entry points."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillgap.graphs import SkillGraph
from skillgap.graphs.strategies import (
    _registry,
    cost_order,
    get_strategy,
    list_strategies,
    register_strategy,
    skill_steps,
    strategy_names,
    summary_order,
    unregister_strategy,
)
from skillgap.routers import _router as router_registry
from skillgap.routers import get_router_class, router_kinds

PLUGIN = '''
from skillgap.graphs import SkillGraph
from skillgap.graphs.strategies import register_strategy
from skillgap.routers import FixedRouter, register_router


@register_strategy("plugin_direct", cost_rank=5)
def plugin_direct(composition):
    return SkillGraph("plugin_direct").add("direct", composition.direct_skill())


@register_router("plugin_fixed")
class PluginFixed(FixedRouter):
    pass
'''


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real (if tiny) installed distribution declaring both entry-point groups."""
    (tmp_path / "sg_plugin.py").write_text(PLUGIN)
    info = tmp_path / "sg_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sg-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[skillgap.strategies]\nplugin_direct = sg_plugin\n\n"
        "[skillgap.routers]\nplugin_fixed = sg_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_registry, "_loaded", False)  # read entry points again, as a new process
    monkeypatch.setattr(router_registry, "_entry_points_read", False)
    try:
        yield
    finally:
        unregister_strategy("plugin_direct")
        router_registry.ROUTER_KINDS.pop("plugin_fixed", None)
        sys.modules.pop("sg_plugin", None)


def test_built_ins_in_canonical_order_with_their_measures() -> None:
    assert strategy_names()[:3] == ["direct", "cascaded", "cot"]
    assert skill_steps() == ["visual", "textual"]
    assert cost_order() == ["direct", "cot", "cascaded"]
    assert summary_order({"cot", "visual", "routed:x", "direct"}) == ["direct", "cot", "routed:x"]
    visual, textual = get_strategy("visual"), get_strategy("textual")
    assert (visual.judged_on, visual.reused_from) == ("intermediate", ("cascaded", "visual"))
    assert textual.feeds_intermediate and textual.judged_on == "answer"
    assert {s.name for s in list_strategies(None)} >= {"direct", "cascaded", "cot", "visual", "textual"}


def test_a_different_strategy_under_a_taken_name_is_refused() -> None:
    def again(composition: object) -> SkillGraph:
        raise AssertionError("never built")

    with pytest.raises(ValueError, match="different strategy 'direct' is already registered"):
        register_strategy("direct", cost_rank=10)(again)
    with pytest.raises(ValueError, match="must be an identifier"):
        register_strategy("two words", cost_rank=1)
    assert get_strategy("direct").build is not again


def test_entry_points_add_strategies_and_router_kinds(installed_plugin: None) -> None:
    assert "plugin_direct" in strategy_names() and cost_order()[0] == "plugin_direct"
    assert "plugin_fixed" in router_kinds()
    assert get_router_class("plugin_fixed").from_record(
        {"kind": "plugin_fixed", "choice": "plugin_direct"}).choices == ("plugin_direct",)
