"""The span tree of an eval, caught by an in-memory exporter: shape, parentage, attributes,
redaction, metrics, and nesting of spans that other code opens with the "skillgap" tracer."""

from __future__ import annotations

import asyncio
import json
import time
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


def test_one_trace_per_sample_and_strategy_in_the_runs_session(
        traced: Traced, samples: list, tmp_path: Path) -> None:
    tree, records = traced_eval(traced, samples, tmp_path)
    roots = tree.children[None]
    (run,) = [span for span in roots if span.name.startswith("eval run ")]
    assert kind(run) == "CHAIN" and run.attributes["gen_ai.provider.name"] == "mock"
    session = run.attributes["session.id"]
    assert session == run.attributes["skillgap.run_id"] and run.name == f"eval run {session}"
    assert not tree.kids(run)  # a short trace: the samples are traces of their own
    output = json.loads(str(run.attributes["output.value"]))
    for strategy in CONFIG.steps():
        mine = [r for r in records if r.strategy == strategy]
        assert output["accuracy"][strategy] == pytest.approx(sum(r.correct for r in mine) / len(mine))
    sample_roots = [span for span in roots if span is not run]
    # The visual skill rides on the cascaded run: one trace fewer per task than records.
    assert len(sample_roots) == len(records) - len(CONFIG.tasks)
    assert len({span.context.trace_id for span in roots}) == len(roots)
    for span in sample_roots:
        assert span.attributes["session.id"] == session
        assert [link.context.span_id for link in span.links] == [run.context.span_id]
    for record in records:
        span = tree.by_id[int(record.span_id, 16)]
        assert record.trace_id == f"{span.context.trace_id:032x}"
        if record.strategy == "visual":  # judged inside the cascaded trace, on its own score span
            assert span.name == "score visual" and kind(span) == "EVALUATOR"
            assert tree.by_id[span.parent.span_id].name == f"sample {record.sample_id} · cascaded"
        else:
            assert span.name == f"sample {record.sample_id} · {record.strategy}"
            assert span.parent is None
        verdict = "correct" if record.correct else "incorrect"
        assert span.attributes["gen_ai.evaluation.score.value"] == float(record.correct)
        assert span.attributes["gen_ai.evaluation.score.label"] == verdict
        assert record.gold in str(span.attributes["gen_ai.evaluation.explanation"])


def test_sample_spans_read_like_the_eval(traced: Traced, samples: list, tmp_path: Path) -> None:
    tree, records = traced_eval(traced, samples, tmp_path)
    for record in (r for r in records if r.strategy != "visual"):
        span = tree.by_id[int(record.span_id, 16)]
        verdict = "correct" if record.correct else "incorrect"
        metadata = json.loads(str(span.attributes["metadata"]))
        assert metadata == {"task": record.task, "sample_id": record.sample_id,
                            "strategy": record.strategy, "gold": record.gold,
                            "correct": record.correct, "verdict": verdict,
                            "difficulty": record.difficulty}
        assert list(span.attributes["tag.tags"]) == [record.task, record.strategy, verdict]
        assert json.loads(str(span.attributes["output.value"])) == {
            "prediction": record.prediction, "gold": record.gold, "verdict": verdict}
        shown = json.loads(str(span.attributes["input.value"]))
        assert shown["question"]
        if record.strategy == "textual":  # the skill alone, on the gold intermediate
            assert record.gold_intermediate in shown.values()
        else:
            assert shown["image"].startswith("data:image/png;base64,")
    # Graph and skill spans show their inputs by value; images by size, never mem:// keys.
    for span in tree.spans:
        text = str(span.attributes.get("input.value", ""))
        assert "mem://" not in text
        if span.name.startswith("skill "):
            assert json.loads(text), span.name


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
    if strategy == "visual":  # measured on the cascaded run: its own score span there
        assert sample.name == "score visual"
        assert sample.attributes["skillgap.strategy"] == "visual"
        return
    graph_name = f"graph {strategy}"
    scores = [f"score {strategy}"] + (["score visual"] if strategy == "cascaded" else [])
    assert tree.shape(sample) == (f"sample {record.sample_id} · {strategy}", [
        (graph_name, [(f"skill {skill}", [f"chat {record_model(tree)}"]) for skill in skills]),
        *scores,
    ])
    graph, score = tree.kids(sample)[:2]
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


def _slow_model(delay_s: float) -> MockBackend:
    """A mock that lists two objects and counts one, with ``delay_s`` of work per request and one
    request per batch: concurrent calls queue."""

    def handler(request: Any) -> str:
        time.sleep(delay_s)
        return "RS BS" if request.metadata["skill"] == "list_objects" else "1"

    return MockBackend(handler=handler, max_batch_size=1)


def test_model_call_spans_cover_the_models_work_not_the_queue(traced: Traced) -> None:
    graph = cascaded(composition("counting")).compile()
    counting = load_samples(EvalConfig(tasks=["counting"], n=4, seed=3))
    backend = _slow_model(delay_s=0.05)
    batch = [{"image": s.image, **s.inputs} for s in counting]
    asyncio.run(graph.abatch(batch, backend))
    calls = [span for span in traced.spans() if kind(span) == "LLM"]
    assert len(calls) == 2 * len(counting)
    for call in calls:
        duration = (call.end_time - call.start_time) / 1e9
        # Anchored on the latency the batcher measured around the model's work.
        assert duration == pytest.approx(call.attributes["skillgap.latency_s"], rel=1e-3, abs=1e-5)
        assert call.attributes["skillgap.queue_s"] >= 0
    # One request per batch: four concurrent first steps wait for each other's 50 ms of work.
    queued = [call for call in calls if call.attributes["skillgap.queue_s"] >= 0.05]
    assert queued and all(
        [event.name for event in call.events] == ["batch started"] for call in queued)
    tree = Tree(traced.spans())
    for call in queued:  # the wait shows as the skill's time before its call started
        skill = tree.by_id[call.parent.span_id]
        assert call.start_time - skill.start_time >= 0.05e9


def test_cache_hits_are_named_and_tagged_as_such(traced: Traced, samples: list,
                                                 tmp_path: Path) -> None:
    from skillgap.backends import CachedBackend
    from skillgap.telemetry import SpanRecord, summarize_spans

    graph = cascaded(composition("counting")).compile()
    sample = next(s for s in samples if s.task == "counting")
    inputs = {"image": sample.image, **sample.inputs}
    with CachedBackend(reader_backend(samples), tmp_path / "calls.sqlite") as backend:
        graph.run(inputs, backend, metadata={"task": sample.task, "sample_id": sample.id})
        graph.run(inputs, backend, metadata={"task": sample.task, "sample_id": sample.id})
    calls = [span for span in traced.spans() if kind(span) == "LLM"]
    fresh = [call for call in calls if not call.attributes["skillgap.cached"]]
    hits = [call for call in calls if call.attributes["skillgap.cached"]]
    assert len(fresh) == len(hits) == 2
    assert all(call.name == "chat mock" for call in fresh)
    assert all(call.name == "chat mock · cache hit" for call in hits)
    assert all(list(call.attributes["tag.tags"]) == ["cache hit"] for call in hits)
    rows = summarize_spans(SpanRecord.from_span(span) for span in traced.spans())
    calls_rows = [row for row in rows if row.skill != "(graph)"]
    assert sum(row.calls for row in calls_rows) == sum(row.cache_hits for row in calls_rows) == 2
    assert all(len(row.latencies_s) == row.calls for row in calls_rows)


def test_model_names_drop_the_folder_path() -> None:
    from skillgap.telemetry._spans import model_name

    assert model_name("/home/me/models/tiny-llava") == "tiny-llava"
    assert model_name("./models/tiny-llava/") == "tiny-llava"
    assert model_name("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert model_name("mock") == "mock"
    assert model_name("/opt/skillgap/tiny/model") == "tiny/model"  # not just "model"
    assert model_name("/runs/train/checkpoint-500") == "train/checkpoint-500"
