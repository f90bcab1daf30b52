"""The span tree of an eval, caught by an in-memory exporter: shape, parentage, attributes,
redaction, metrics, and nesting of spans that other code opens with the "skillgap" tracer."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from eval_helpers import reader_backend
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from telemetry_helpers import CONFIG, Traced, comparable

from skillgap.backends import MockBackend
from skillgap.evals import EvalConfig, load_samples, read_records, run_eval
from skillgap.graphs import cascaded
from skillgap.tasks import composition
from skillgap.telemetry import TraceConfig, configure_tracing

GEN_AI = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
          "gen_ai.request.max_tokens", "gen_ai.request.temperature", "gen_ai.usage.input_tokens",
          "gen_ai.usage.output_tokens", "gen_ai.response.finish_reasons")
OPENINFERENCE = ("input.value", "output.value", "llm.model_name",
                 "llm.input_messages.0.message.role",
                 "llm.input_messages.0.message.contents.0.message_content.text")


class Tree:
    def __init__(self, spans: list[ReadableSpan]):
        self.spans = spans
        self.by_id = {span.context.span_id: span for span in spans}
        self.children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
        for span in sorted(spans, key=lambda s: s.start_time or 0):
            self.children[span.parent.span_id if span.parent else None].append(span)

    def kids(self, span: ReadableSpan) -> list[ReadableSpan]:
        return self.children[span.context.span_id]

    def shape(self, span: ReadableSpan) -> Any:
        kids = self.kids(span)
        return (span.name, [self.shape(kid) for kid in kids]) if kids else span.name


def kind(span: ReadableSpan) -> Any:
    return span.attributes["openinference.span.kind"]


@pytest.fixture(scope="module")
def samples() -> list:
    return load_samples(CONFIG)


def traced_eval(traced: Traced, samples: list, out: Path) -> tuple[Tree, list]:
    run_eval(CONFIG, reader_backend(samples), out, show_progress=False)
    return Tree(traced.spans()), read_records(out)


def test_one_root_per_run_and_every_record_joins_its_sample_span(
        traced: Traced, samples: list, tmp_path: Path) -> None:
    tree, records = traced_eval(traced, samples, tmp_path)
    (root,) = tree.children[None]
    assert root.name == "eval run" and kind(root) == "CHAIN"
    assert root.attributes["gen_ai.provider.name"] == "mock"
    sample_spans = tree.kids(root)
    assert {span.name for span in sample_spans} == {"sample"}
    # The visual skill rides on the cascaded run: one sample span fewer than records.
    assert len(sample_spans) == len(records) - len(CONFIG.tasks)
    for record in records:
        span = tree.by_id[int(record.span_id, 16)]
        assert record.trace_id == f"{root.context.trace_id:032x}"
        assert span.name == "sample" and span.attributes["skillgap.sample_id"] == record.sample_id
        expected = "cascaded" if record.strategy == "visual" else record.strategy
        assert span.attributes["skillgap.strategy"] == expected
        results = {event.attributes["skillgap.strategy"]: event.attributes
                   for event in span.events if event.name == "gen_ai.evaluation.result"}
        assert results[record.strategy]["gen_ai.evaluation.score.value"] == float(record.correct)
        assert results[record.strategy]["gen_ai.evaluation.score.label"] == (
            "correct" if record.correct else "incorrect")


@pytest.mark.parametrize("strategy", ["direct", "cascaded", "cot", "visual", "textual"])
def test_span_tree_of_each_strategy(traced: Traced, samples: list, tmp_path: Path,
                                    strategy: str) -> None:
    tree, records = traced_eval(traced, samples, tmp_path)
    comp = composition("counting")
    skills = {
        "direct": [f"counting.{strategy}"], "cot": [f"counting.{strategy}"],
        "cascaded": [comp.visual.name, comp.textual.name],
        "visual": [comp.visual.name], "textual": [comp.textual.name],
    }[strategy]
    (record,) = [r for r in records if r.task == "counting" and r.strategy == strategy]
    sample = tree.by_id[int(record.span_id, 16)]
    if strategy == "visual":  # measured on the cascaded run: same sample span, its own score
        assert sample.attributes["skillgap.strategy"] == "cascaded"
        return
    graph_name = f"graph {strategy}"
    assert tree.shape(sample) == ("sample", [
        (graph_name, [(f"skill {skill}", [f"chat {record_model(tree)}"]) for skill in skills]),
        "score",
    ])
    graph, score = tree.kids(sample)
    assert kind(graph) == "CHAIN" and graph.attributes["skillgap.graph"] == strategy
    assert graph.attributes["output.value"] == (record.prediction or "")
    assert kind(score) == "EVALUATOR"
    assert score.attributes["gen_ai.evaluation.score.value"] == float(record.correct)
    for node, skill in zip(tree.kids(graph), skills, strict=True):
        assert kind(node) == "CHAIN" and node.attributes["skillgap.skill"] == skill
        (call,) = tree.kids(node)
        assert kind(call) == "LLM" and call.kind is trace.SpanKind.CLIENT
        for key in GEN_AI + OPENINFERENCE:
            assert key in call.attributes, key
        assert call.attributes["gen_ai.request.model"] == "mock"
        assert call.attributes["gen_ai.response.finish_reasons"] == ("stop",)
        assert call.attributes["skillgap.strategy"] == strategy
        assert call.attributes["skillgap.skill"] == skill
        images = [value for key, value in call.attributes.items() if key.endswith("image.url")]
        vision = skill != comp.textual.name
        assert len(images) == vision
        assert all(str(url).startswith("data:image/png;base64,") for url in images)
    assert sum(call.attributes["gen_ai.usage.input_tokens"]
               for node in tree.kids(graph) for call in tree.kids(node)) == record.tokens["input"]


def record_model(tree: Tree) -> str:
    return next(str(s.attributes["gen_ai.request.model"]) for s in tree.spans
                if s.attributes.get("openinference.span.kind") == "LLM")


def test_failed_nodes_mark_their_spans(traced: Traced, tmp_path: Path) -> None:
    graph = cascaded(composition("counting")).compile()
    sample = load_samples(EvalConfig(tasks=["counting"], n=1, seed=2))[0]
    result = graph.run({"image": sample.image, **sample.inputs}, MockBackend(outputs=["not a list"]))
    assert result.error is not None
    tree = Tree(traced.spans())
    (root,) = tree.children[None]
    assert root.name == "graph cascaded"  # a graph run outside an eval is its own trace
    visual, textual = tree.kids(root)
    assert visual.status.status_code is trace.StatusCode.ERROR
    assert visual.attributes["skillgap.parse_failure"] is True
    assert textual.attributes["skillgap.skipped"] is True and not tree.kids(textual)
    assert root.status.status_code is trace.StatusCode.ERROR


def test_spans_opened_with_the_skillgap_tracer_nest_in_the_tree(traced: Traced) -> None:
    graph = cascaded(composition("counting")).compile()
    sample = load_samples(EvalConfig(tasks=["counting"], n=1, seed=2))[0]
    backend = reader_backend([sample])
    tracer = trace.get_tracer("skillgap")
    with tracer.start_as_current_span("decision", attributes={"skillgap.router.choice": "cascaded"}):
        graph.run({"image": sample.image, **sample.inputs}, backend,
                  metadata={"task": sample.task, "sample_id": sample.id})
    tree = Tree(traced.spans())
    (root,) = tree.children[None]
    assert tree.shape(root)[0] == "decision"
    assert [kid.name for kid in tree.kids(root)] == ["graph cascaded"]


def _attribute_text(spans: list[ReadableSpan]) -> str:
    return repr([(span.attributes, [event.attributes for event in span.events], span.resource.attributes)
                 for span in spans])


def test_images_redacted_or_truncated_and_no_secrets(samples: list, tmp_path: Path) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    class KeyedBackend:
        """A backend whose description holds credentials (as an HTTP backend's might)."""

        name = model_id = "mock"

        def __init__(self) -> None:
            self.inner = reader_backend(samples)

        async def generate(self, requests: Any) -> Any:
            return await self.inner.generate(requests)

        def describe(self) -> dict[str, Any]:
            return {**self.inner.describe(), "api_key": "sk-very-secret",
                    "headers": {"Authorization": "Bearer sk-very-secret"}}

    def traced_run(config: TraceConfig, out: Path) -> list[ReadableSpan]:
        exporter = InMemorySpanExporter()
        backend = KeyedBackend()
        with configure_tracing(config, exporter=exporter):
            run_eval(CONFIG, backend, out, show_progress=False)
        return list(exporter.get_finished_spans())

    redacted = traced_run(TraceConfig(redact_images=True), tmp_path / "a")
    text = _attribute_text(redacted)
    assert "data:image" not in text and "sk-very-secret" not in text
    urls = [v for s in redacted for k, v in s.attributes.items() if k.endswith("image.url")]
    assert urls and set(urls) == {"redacted"}

    cut = traced_run(TraceConfig(image_max_chars=40), tmp_path / "b")
    urls = [str(v) for s in cut for k, v in s.attributes.items() if k.endswith("image.url")]
    assert urls and all(url.startswith("data:image/png;base64,") for url in urls)
    assert all(len(url.partition("...[")[0]) == 40 and url.endswith("more chars]") for url in urls)
    assert "sk-very-secret" not in _attribute_text(cut)


def test_genai_client_metrics(traced: Traced, samples: list, tmp_path: Path) -> None:
    _, records = traced_eval(traced, samples, tmp_path)
    data = traced.metrics.get_metrics_data()
    assert data is not None
    metrics = {metric.name: metric for resource in data.resource_metrics
               for scope in resource.scope_metrics for metric in scope.metrics}
    usage = metrics["gen_ai.client.token.usage"].data.data_points
    by_type = {point.attributes["gen_ai.token.type"]: point for point in usage}
    calls = sum(record.calls for record in records if record.strategy != "visual")
    assert by_type["input"].count == by_type["output"].count == calls
    assert by_type["input"].sum == sum(r.tokens["input"] for r in records if r.strategy != "visual")
    (duration,) = metrics["gen_ai.client.operation.duration"].data.data_points
    assert duration.count == calls and duration.attributes["gen_ai.request.model"] == "mock"


def test_tracing_off_records_no_ids_and_the_same_results(traced: Traced, samples: list,
                                                        tmp_path: Path) -> None:
    _, with_tracing = traced_eval(traced, samples, tmp_path / "on")
    traced.tracing.shutdown()
    assert not trace.get_current_span().get_span_context().is_valid
    run_eval(CONFIG, reader_backend(samples), tmp_path / "off", show_progress=False)
    without = read_records(tmp_path / "off")
    assert all(r.trace_id is None and r.span_id is None for r in without)
    assert all(r.trace_id and r.span_id for r in with_tracing)
    assert comparable(with_tracing) == comparable(without)



def test_configuring_again_switches_exporter_and_project(samples: list) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    graph = cascaded(composition("counting")).compile()
    backend = reader_backend(samples)
    sample = next(s for s in samples if s.task == "counting")
    inputs = {"image": sample.image, **sample.inputs}
    meta = {"task": sample.task, "sample_id": sample.id}
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    with configure_tracing(TraceConfig(project_name="one"), exporter=first):
        graph.run(inputs, backend, metadata=meta)
    graph.run(inputs, backend, metadata=meta)  # tracing off in between
    with configure_tracing(TraceConfig(project_name="two"), exporter=second):
        graph.run(inputs, backend, metadata=meta)
    assert len(first.get_finished_spans()) == len(second.get_finished_spans()) == 5
    projects = {s.resource.attributes["openinference.project.name"]
                for s in (*first.get_finished_spans(), *second.get_finished_spans())}
    assert projects == {"one", "two"}
    assert first.get_finished_spans()[0].context.trace_id != second.get_finished_spans()[0].context.trace_id
