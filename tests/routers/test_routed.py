"""The routed strategy as a LangGraph graph, in evals, reports and the CLI, on a mock model with a
known gap (direct right on four samples in five, unsure when wrong; cascaded always right)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from router_helpers import SURE, UNSURE, direct_right, gap_backend

from skillgap.cli import main
from skillgap.evals import EvalConfig, load_samples, read_records, run_eval
from skillgap.graphs import RoutedResult, routed
from skillgap.reports import ensure_run_report
from skillgap.routers import FallbackRouter, RouterOverlapError, RuleRouter, load_router
from skillgap.tasks import composition

TASKS = ["rendered_text", "counting"]


def test_routed_graph_keeps_sure_direct_answers_and_escalates_the_rest() -> None:
    samples = load_samples(EvalConfig(tasks=["counting"], n=10, seed=3))
    graph = routed(composition("counting"), FallbackRouter(threshold=1.0))
    backend = gap_backend(samples)
    for sample in samples:
        result = graph.run({"image": sample.image, **sample.inputs}, backend,
                           metadata={"task": sample.task, "sample_id": sample.id})
        assert isinstance(result, RoutedResult) and result.route is not None
        assert result.answer_text() == sample.answer
        if direct_right(sample.id):
            assert (result.route.choice, result.calls, list(result.nodes)) == ("direct", 1, ["direct"])
            assert result.route.score == pytest.approx(-SURE)
        else:
            assert (result.route.choice, result.calls) == ("cascaded", 3)
            assert result.intermediate is not None and not result.parse_failure


def test_the_route_is_a_conditional_edge_in_the_drawn_graph() -> None:
    graph = routed(composition("counting"), FallbackRouter())
    mermaid = graph.draw()
    assert 'route{"route<br/>router: fallback"}' in mermaid
    assert "route -.->|cascaded|" in mermaid and "route -.->|direct: keep probe| answer" in mermaid
    native = graph.langgraph.get_graph().draw_mermaid()  # LangGraph's own view: dotted conditionals
    assert "route -. &nbsp;cascaded&nbsp; .-> branch_cascaded" in native
    assert "route -. &nbsp;direct&nbsp; .-> __end__" in native
    # Each branch is the strategy's own compiled graph, added as a subgraph node.
    inside = graph.langgraph.get_graph(xray=True).draw_mermaid()
    assert "subgraph branch_cascaded" in inside and "subgraph probe_direct" in inside


def test_decision_span_names_router_choice_and_score() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from skillgap.telemetry import configure_tracing

    samples = load_samples(EvalConfig(tasks=["counting"], n=2, seed=3))
    graph = routed(composition("counting"), FallbackRouter(threshold=1.0))
    exporter = InMemorySpanExporter()
    tracing = configure_tracing(exporter=exporter)
    try:
        for sample in samples:
            graph.run({"image": sample.image, **sample.inputs}, gap_backend(samples),
                      metadata={"task": sample.task, "sample_id": sample.id})
        tracing.force_flush()
        decisions = [s for s in exporter.get_finished_spans() if s.name == "router decision"]
    finally:
        tracing.shutdown()
    assert len(decisions) == 2
    for span in decisions:
        assert span.attributes["openinference.span.kind"] == "CHAIN"
        assert span.attributes["skillgap.router.name"] == "fallback"
    # Sample 0 is one direct gets wrong (unsure: escalated), sample 1 one it gets right.
    by_choice = {span.attributes["skillgap.router.choice"]: span for span in decisions}
    assert by_choice["cascaded"].attributes["skillgap.router.score"] == pytest.approx(-UNSURE)
    assert by_choice["direct"].attributes["skillgap.router.score"] == pytest.approx(-SURE)
    assert by_choice["direct"].attributes["skillgap.sample_id"] == samples[1].id


def test_train_on_one_seed_evaluate_on_another(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train_config = EvalConfig(tasks=TASKS, strategies=["direct", "cascaded", "cot"], n=20, seed=1,
                              skills=False)
    train_samples = load_samples(train_config)
    run_eval(train_config, gap_backend(train_samples), tmp_path / "train", show_progress=False)

    router_file = tmp_path / "fallback.json"
    assert main(["route", "train", "--run", str(tmp_path / "train"), "--router", "fallback",
                 "--out", str(router_file)]) == 0
    assert "trained on 40 samples" in capsys.readouterr().out
    saved = json.loads(router_file.read_text())
    assert saved["trained_on"]["config"]["seed"] == 1 and len(saved["trained_on"]["samples"]) == 40
    router = load_router(router_file)
    assert router.name == "fallback" and router.probe == "direct"

    config = EvalConfig(tasks=TASKS, strategies=["direct", "cascaded", "routed:fallback"], n=20, seed=2,
                        skills=False, routers={"fallback": str(router_file)})
    held_out = load_samples(config)
    summary = run_eval(config, gap_backend(held_out), tmp_path / "eval", show_progress=False)
    ensure_run_report(tmp_path / "eval", summary)
    for task in TASKS:
        entry = summary.tasks[task]
        stats = entry.routers["fallback"]
        assert stats.accuracy == 1.0 and stats.gap_closed.value == 1.0
        assert stats.cost_ratio_vs_cascaded is not None and stats.cost_ratio_vs_cascaded <= 0.75
        assert stats.ci is not None and stats.ci[0] <= stats.accuracy <= stats.ci[1]
        assert entry.routers["oracle"].accuracy == 1.0
        assert entry.strategies["routed:fallback"].accuracy == 1.0
        assert entry.pareto is not None
        curves = entry.pareto.curves
        assert {"fallback (direct log-prob swept)", "fallback (threshold swept)"} <= set(curves)
        assert {p.name for p in entry.pareto.points} >= {"direct", "cascaded", "fallback"}
    records = [r for r in read_records(tmp_path / "eval") if r.strategy == "routed:fallback"]
    assert {r.route.choice for r in records if r.route} == {"direct", "cascaded"}
    assert (tmp_path / "eval" / "plots" / "pareto.png").is_file()
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "gap closed" in report and "plots/pareto.png" in report

    # The same router on its own training samples: refused, by the runner and by the CLI.
    overlap = config.model_copy(update={"seed": 1})
    with pytest.raises(RouterOverlapError, match="trained on 40 of the samples"):
        run_eval(overlap, gap_backend(train_samples), tmp_path / "overlap", show_progress=False)
    assert main(["eval", "--backend", "mock", "--tasks", ",".join(TASKS), "--n", "20", "--seed", "1",
                 "--strategies", f"direct,routed:{router_file}", "--out", str(tmp_path / "cli"),
                 "--quiet", "--no-cache"]) == 2
    assert "evaluate it on held-out samples" in capsys.readouterr().err
    assert main(["route", "eval", "--run", str(tmp_path / "train"), "--router", str(router_file)]) == 2
    capsys.readouterr()

    # Replaying the router offline on the held-out run gives what the live run measured.
    learned_file = tmp_path / "learned.json"
    assert main(["route", "train", "--run", str(tmp_path / "train"), "--router", "learned",
                 "--out", str(learned_file)]) == 0
    capsys.readouterr()
    assert main(["route", "eval", "--run", str(tmp_path / "eval"), "--router", str(learned_file)]) == 0
    table = capsys.readouterr().out
    assert "rendered_text" in table and "100%" in table


def test_cli_eval_with_a_routed_strategy_and_draw(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from skillgap.routers import save_router

    router_file = save_router(RuleRouter({"counting": "direct"}, name="rules"), tmp_path / "rules.json")
    out = tmp_path / "run"
    assert main(["eval", "--backend", "mock", "--tasks", "counting", "--n", "3",
                 "--strategies", f"direct,cascaded,routed:{router_file}", "--out", str(out),
                 "--quiet", "--no-cache"]) == 0
    assert "router rules" in capsys.readouterr().out
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["strategies"] == ["direct", "cascaded", "routed:rules"]
    assert run["config"]["routers"] == {"rules": str(router_file.resolve())}
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["tasks"]["counting"]["routers"]) == {"rules", "oracle"}
    rules = summary["tasks"]["counting"]["routers"]["rules"]
    assert rules["choices"] == {"direct": 1.0} and rules["calls"] == 1.0

    assert main(["draw", "routed", "--task", "counting", "--router", str(router_file)]) == 0
    assert "route -.->|direct|" in capsys.readouterr().out
    assert main(["draw", "routed", "--task", "counting"]) == 0  # a default fallback router
    assert "-.->|cascaded|" in capsys.readouterr().out
