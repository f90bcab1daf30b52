"""The spans of a run, opened by the runner and the graphs through these small helpers.

Each sample × strategy is its own trace, read like the eval itself: ``sample <id> · <strategy>``
(the root) → ``graph <strategy>`` → ``skill <name>`` (one per node, with its bound inputs) →
``chat <model>`` (the model call), and one ``score <step>`` span per evaluated step. A run adds one
short trace, ``eval run``, whose output is the accuracy per strategy; every sample trace links to
it, and all of a run's traces share ``session.id`` = the run's id (a Phoenix session).

Every helper uses the global tracer named "skillgap", so spans that other code opens with the same
tracer (a router's decision inside a strategy graph) nest by the current context. Model-call spans
carry the OpenTelemetry GenAI attributes and the OpenInference ones Phoenix renders, and cover the
model's work only: time spent queued for a batch is an attribute, not part of the span.

With no tracer provider configured the tracer is a no-op: helpers check ``is_recording()`` before
building any attribute, so tracing off costs a few microseconds per span and no image encoding.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import Link, Span, Status, StatusCode

from ..backends._names import model_name

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram

    from ..backends._types import Backend, Generation, GenerationRequest, ImageRef

TRACER_NAME = "skillgap"

# OpenInference attribute names (the subset Phoenix needs to render our spans).
KIND = "openinference.span.kind"
INPUT_VALUE = "input.value"
INPUT_MIME = "input.mime_type"
OUTPUT_VALUE = "output.value"
OUTPUT_MIME = "output.mime_type"
METADATA = "metadata"
TAGS = "tag.tags"
SESSION_ID = "session.id"
LLM_MODEL = "llm.model_name"
LLM_PROVIDER = "llm.provider"
LLM_PARAMS = "llm.invocation_parameters"
LLM_PROMPT_TOKENS = "llm.token_count.prompt"
LLM_COMPLETION_TOKENS = "llm.token_count.completion"
LLM_TOTAL_TOKENS = "llm.token_count.total"

EVALUATION_NAME = "exact_match"
EVALUATION_EVENT = "gen_ai.evaluation.result"
BATCH_STARTED_EVENT = "batch started"
CACHE_HIT = "cache hit"
REDACTED_IMAGE = "redacted"
#: Keys whose values never reach a span (backend descriptions can hold credentials).
_SECRET = re.compile(r"api[_-]?key|authori[sz]ation|secret|password|passwd|credential|cookie|"
                     r"bearer|headers?$|^token$|access[_-]?token", re.IGNORECASE)

Verdict = Literal["correct", "incorrect", "error", "invalid"]


class ScoredRecord(Protocol):
    """What the telemetry reads of a run-log record (``skillgap.evals.SampleRecord``)."""

    task: str
    sample_id: str
    strategy: str
    prediction: str | None
    gold: str
    correct: bool
    error: str | None
    format_failure: bool
    trace_id: str | None
    span_id: str | None


class SampleLike(Protocol):
    """What a sample span reads of a task sample (``skillgap.tasks.Sample``)."""

    task: str
    id: str
    question: str
    difficulty: dict[str, Any]


@dataclass
class SpanSettings:
    """Process-wide span options, set by ``configure_tracing``."""

    image_max_chars: int = 16_384
    redact_images: bool = False
    token_usage: Histogram | None = None
    duration: Histogram | None = None


settings = SpanSettings()


# A proxy until a provider is set, then bound to it once (configure_tracing installs a forwarding
# provider, so later reconfigurations still reach this tracer).
_tracer = trace.get_tracer(TRACER_NAME)


def tracer() -> trace.Tracer:
    return _tracer


def enabled() -> bool:
    """Whether any tracer provider records spans (ours, or one the user installed)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        return False  # never configured: the API's no-op
    return not isinstance(getattr(provider, "target", provider), trace.NoOpTracerProvider)


@contextmanager
def _start(name: str, kind: trace.SpanKind = trace.SpanKind.INTERNAL, *,
           root: bool = False, links: Sequence[Link] = ()) -> Iterator[Span]:
    """A current span, or with tracing off the invalid span without touching the context;
    ``root`` starts a new trace whatever span is current."""
    if not enabled():
        yield trace.INVALID_SPAN
        return
    parent = otel_context.Context() if root else None
    with _tracer.start_as_current_span(name, context=parent, kind=kind, links=links) as span:
        yield span


def span_ids(span: Span | None = None) -> dict[str, str | None]:
    """``trace_id`` and ``span_id`` (hex) of ``span`` (default: the current one); None when
    tracing is off, so run-log records and traces join."""
    context = (span or trace.get_current_span()).get_span_context()
    if not context.is_valid:
        return {"trace_id": None, "span_id": None}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def scrub(value: Any) -> Any:
    """``value`` with every credential-looking key dropped, recursively."""
    if isinstance(value, Mapping):
        return {key: scrub(item) for key, item in value.items() if not _SECRET.search(str(key))}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def image_url(image: ImageRef) -> str:
    """The image as Phoenix shows it: a ``data:`` URI, cut to the configured size, or redacted."""
    if settings.redact_images:
        return REDACTED_IMAGE
    try:
        uri = image.data_uri()
    except ValueError:
        return image.short()
    limit = settings.image_max_chars
    return uri if len(uri) <= limit else uri[:limit] + f"...[{len(uri) - limit} more chars]"


def _image_label(image: ImageRef) -> str:
    """An image named for people: its file, or its size (in-process ``mem://`` keys mean nothing
    outside the process; the pixels are on the sample span and the model call)."""
    if settings.redact_images:
        return REDACTED_IMAGE
    if not image.uri.startswith(("mem://", "data:")):
        return image.short()
    try:
        width, height = image.check()
    except ValueError:
        return "image (unreadable)"
    return f"image {width}×{height}"


def _json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)


def _text(value: Any) -> str:
    """A graph or skill input as text; images by a label (their pixels go on the sample and
    model-call spans)."""
    from ..backends._types import ImageRef
    from ..skills._formats import render_value

    if isinstance(value, ImageRef):
        return _image_label(value)
    return render_value(value)


def _fail(span: Span, message: str, error_type: str) -> None:
    span.set_status(Status(StatusCode.ERROR, message))
    span.set_attribute("error.type", error_type)


def verdict(record: ScoredRecord) -> Verdict:
    """How a record reads in a trace: ``correct``, ``incorrect`` (a wrong or unparseable answer),
    ``error`` (the call failed) or ``invalid`` (a bad input that never reached the model)."""
    status = getattr(record, "status", None)  # the run log's own classification, when it has one
    if status in ("correct", "error", "invalid"):
        return cast(Verdict, status)
    if status == "wrong":
        return "incorrect"
    if record.error is not None and not record.format_failure:
        return "invalid" if record.error.startswith(("bad input:", "bad dataset row")) else "error"
    return "correct" if record.correct else "incorrect"


def score_value(record: ScoredRecord) -> float | None:
    """1.0 / 0.0 for a scored answer; None for a failed call or a bad input (not a wrong answer)."""
    kind = verdict(record)
    return None if kind in ("error", "invalid") else float(kind == "correct")


def explanation(record: ScoredRecord) -> str:
    text = f"prediction {record.prediction!r}, gold {record.gold!r}"
    return text + (f"; {record.error}" if record.error else "")


# ---------------------------------------------------------------- the run


@dataclass
class RunTrace:
    """The short trace of one eval run; sample traces link to its span and share its session."""

    span: Span
    run_id: str
    out: Path | None = None
    #: Records of the samples traced in this process (a resumed run's earlier ones are not).
    records: list[Any] = field(default_factory=list)

    def link(self) -> list[Link]:
        context = self.span.get_span_context()
        return [Link(context, {"skillgap.link": "eval run"})] if context.is_valid else []

    def finish(self, records: Sequence[ScoredRecord]) -> None:
        """The run's output: accuracy per task and strategy over every record of the run."""
        if not self.span.is_recording():
            return
        by_task = accuracy_table(records)
        pooled = accuracy_table([_Pooled(record) for record in records])["all tasks"]
        output = {"accuracy": {name: row["accuracy"] for name, row in pooled.items()},
                  "by_task": by_task}
        self.span.set_attributes({OUTPUT_VALUE: _json(output), OUTPUT_MIME: "application/json"})


class _Pooled:
    """A record seen as if every task were one (for accuracy per strategy over the run)."""

    def __init__(self, record: ScoredRecord):
        self._record = record
        self.task = "all tasks"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._record, name)


def accuracy_table(records: Sequence[ScoredRecord]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per task and strategy: scored answers, correct ones, accuracy over the scored, and the
    failed calls and bad inputs counted apart."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        row = table.setdefault(record.task, {}).setdefault(
            record.strategy, {"accuracy": None, "correct": 0, "scored": 0, "errors": 0,
                              "invalid": 0})
        kind = verdict(record)
        if kind in ("error", "invalid"):
            row["errors" if kind == "error" else "invalid"] += 1
            continue
        row["scored"] += 1
        row["correct"] += kind == "correct"
    for strategies in table.values():
        for row in strategies.values():
            row["accuracy"] = round(row["correct"] / row["scored"], 4) if row["scored"] else None
    return table


@contextmanager
def run_span(config: Mapping[str, Any], backend: Mapping[str, Any], *, run_id: str,
             out: Path | None = None) -> Iterator[RunTrace]:
    """The span of an eval run (its own short trace). Leaving it normally posts the scores of the
    samples traced here as Phoenix annotations when the receiver is Phoenix, and notes in
    ``out/trace.json`` where the traces went."""
    with _start(f"eval run {run_id}", root=True) as span:
        if span.is_recording():
            span.set_attributes({
                KIND: "CHAIN",
                SESSION_ID: run_id,
                "skillgap.run_id": run_id,
                INPUT_VALUE: _json(scrub(config)),
                INPUT_MIME: "application/json",
                METADATA: _json({"backend": scrub(backend), "run_id": run_id}),
                "skillgap.tasks": list(config.get("tasks", [])),
                "skillgap.strategies": list(config.get("strategies", [])),
                gen_ai.GEN_AI_REQUEST_MODEL: str(backend.get("model", "")),
                gen_ai.GEN_AI_PROVIDER_NAME: str(backend.get("backend", "")),
            })
        run = RunTrace(span, run_id, out)
        yield run
    if span.get_span_context().is_valid:  # tracing was on
        from ._phoenix import after_run

        after_run(run)


# ---------------------------------------------------------------- a sample × strategy


@dataclass
class SampleSpan:
    """The root span of one sample × strategy trace."""

    span: Span
    task: str
    sample_id: str
    strategy: str
    difficulty: dict[str, Any]
    run: RunTrace | None = None


@contextmanager
def sample_span(sample: SampleLike, strategy: str, inputs: Mapping[str, Any],
                run: RunTrace | None = None) -> Iterator[SampleSpan]:
    """One sample × strategy: the root of its own trace when ``run`` is given (linked to the
    run's span, in its session); :func:`finish_sample` records its evaluation. ``inputs`` are
    the graph's inputs (the image is shown as a picture)."""
    name = f"sample {sample.id} · {strategy}"
    with _start(name, root=run is not None, links=run.link() if run else ()) as span:
        if span.is_recording():
            # The question first and the image last: lists (sessions, traces) show the start.
            shown: dict[str, Any] = {"question": sample.question}
            shown.update((k, _text(v)) for k, v in inputs.items() if not _is_image(v))
            shown.update((k, image_url(v)) for k, v in inputs.items() if _is_image(v))
            attributes: dict[str, Any] = {
                KIND: "CHAIN",
                INPUT_VALUE: json.dumps(shown, default=str, ensure_ascii=False),
                INPUT_MIME: "application/json",
                METADATA: _json({"task": sample.task, "sample_id": sample.id,
                                 "strategy": strategy, "difficulty": sample.difficulty}),
                TAGS: [sample.task, strategy],
                "skillgap.task": sample.task,
                "skillgap.sample_id": sample.id,
                "skillgap.strategy": strategy,
            }
            if run is not None:
                attributes[SESSION_ID] = attributes["skillgap.run_id"] = run.run_id
            span.set_attributes(attributes)
        yield SampleSpan(span, sample.task, sample.id, strategy, dict(sample.difficulty), run)


def _is_image(value: Any) -> bool:
    from ..backends._types import ImageRef

    return isinstance(value, ImageRef)


def _evaluation(record: ScoredRecord) -> dict[str, Any]:
    """The OpenTelemetry GenAI evaluation attributes of a record (for receivers other than
    Phoenix, which gets annotations)."""
    result: dict[str, Any] = {
        gen_ai.GEN_AI_EVALUATION_NAME: EVALUATION_NAME,
        gen_ai.GEN_AI_EVALUATION_SCORE_LABEL: verdict(record),
        gen_ai.GEN_AI_EVALUATION_EXPLANATION: explanation(record),
        "skillgap.strategy": record.strategy,
    }
    score = score_value(record)
    if score is not None:
        result[gen_ai.GEN_AI_EVALUATION_SCORE_VALUE] = score
    return result


def score_records(step: str, records: Sequence[Any]) -> list[Any]:
    """One ``score <step>`` span (kind EVALUATOR) per record, under the current sample span.

    A record of another step judged within this one (the visual skill, scored on the cascaded
    run's first node) takes its score span's ids, so its log line points at its own verdict.
    """
    scored = []
    for record in records:
        with _start(f"score {record.strategy}") as span:
            if span.is_recording():
                kind = verdict(record)
                span.set_attributes({
                    KIND: "EVALUATOR",
                    INPUT_VALUE: _json({"prediction": record.prediction, "gold": record.gold}),
                    INPUT_MIME: "application/json",
                    OUTPUT_VALUE: kind,
                    OUTPUT_MIME: "text/plain",
                    TAGS: [record.task, record.strategy, kind],
                    **_evaluation(record),
                })
                span.add_event(EVALUATION_EVENT, _evaluation(record))
            if record.strategy != step and span.get_span_context().is_valid:
                record = record.model_copy(update=span_ids(span))
        scored.append(record)
    return scored


def finish_sample(sample: SampleSpan, records: Sequence[Any]) -> list[Any]:
    """Record the step's verdict on the sample span (output, metadata, tags, evaluation
    attributes) and return the records carrying their span ids."""
    span = sample.span
    if not records:
        return []
    main = next((r for r in records if r.strategy == sample.strategy), records[0])
    if span.is_recording():
        kind = verdict(main)
        span.set_attributes({
            OUTPUT_VALUE: json.dumps({"verdict": kind, "prediction": main.prediction,
                                      "gold": main.gold}, ensure_ascii=False),
            OUTPUT_MIME: "application/json",
            METADATA: _json({"task": sample.task, "sample_id": sample.sample_id,
                             "strategy": sample.strategy, "gold": main.gold,
                             "correct": kind == "correct", "verdict": kind,
                             "difficulty": sample.difficulty}),
            TAGS: [sample.task, sample.strategy, kind],
            "skillgap.correct": kind == "correct",
            "skillgap.verdict": kind,
            **_evaluation(main),
        })
        if kind in ("error", "invalid") and main.error:
            _fail(span, main.error, "sample_error" if kind == "error" else "bad_input")
    ids = span_ids(span)
    joined = [record if record.span_id else record.model_copy(update=ids) for record in records]
    if sample.run is not None and ids["span_id"] is not None:
        sample.run.records.extend(joined)
    return joined


# ---------------------------------------------------------------- graphs and skills


@contextmanager
def graph_span(name: str, inputs: Mapping[str, Any], metadata: Mapping[str, str]) -> Iterator[Span]:
    """One run of a composition graph (a strategy, or a user's DAG)."""
    with _start(f"graph {name}") as span:
        if span.is_recording():
            span.set_attributes({
                KIND: "CHAIN",
                "skillgap.graph": name,
                INPUT_VALUE: _json({key: _text(value) for key, value in inputs.items()}),
                INPUT_MIME: "application/json",
                **{f"skillgap.{key}": str(value) for key, value in scrub(metadata).items()},
            })
        yield span


def finish_graph(span: Span, result: Any) -> None:
    """``result`` is the run's ``GraphResult``."""
    if not span.is_recording():
        return
    span.set_attribute(OUTPUT_VALUE, result.answer_text() or "")
    if result.error is not None:
        _fail(span, result.error, "graph_error")


@contextmanager
def node_span(graph: str, node: str, skill: str, modality: str) -> Iterator[Span]:
    """One skill node of a graph; :func:`node_input` adds its bound inputs once they are known."""
    with _start(f"skill {skill}") as span:
        if span.is_recording():
            span.set_attributes({KIND: "CHAIN", "skillgap.graph": graph, "skillgap.node": node,
                                 "skillgap.skill": skill, "skillgap.modality": modality})
        yield span


def node_input(values: Mapping[str, Any]) -> None:
    """The current skill span's input: the values bound to the skill's parameters."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({
            INPUT_VALUE: _json({key: _text(value) for key, value in values.items()}),
            INPUT_MIME: "application/json",
        })


def finish_node(span: Span, result: Any) -> None:
    """``result`` is the node's ``NodeResult``."""
    if not span.is_recording():
        return
    span.set_attributes({OUTPUT_VALUE: result.raw or "", "skillgap.skipped": result.skipped})
    if result.parse_failure:
        span.set_attribute("skillgap.parse_failure", True)
    if result.error is not None:
        _fail(span, result.error, "skipped" if result.skipped else "node_error")


# ---------------------------------------------------------------- model calls


class ModelCall:
    """One model call. Its span is written when the call returns, so that it covers the model's
    work: a batching backend's generation reports the batch's latency, and the time the request
    waited before its batch started (queue, batch window) becomes ``skillgap.queue_s`` and a
    ``batch started`` event instead of span time. A cache hit's span is the look-up itself, named
    ``chat <model> · cache hit``. The parent is the span current when the call was opened
    (batching backends generate in a worker thread, where the caller's context is not current)."""

    def __init__(self, request: GenerationRequest, backend: Backend):
        self.request = request
        self.backend = backend
        self.submitted_ns = time.time_ns()
        self.started = time.perf_counter()
        self.parent = otel_context.get_current()
        self.span: Span = trace.INVALID_SPAN

    def done(self, generation: Generation) -> None:
        elapsed = time.perf_counter() - self.started
        _record_metrics(self.backend, generation, elapsed)
        if not enabled():
            return
        end_ns = self.submitted_ns + int(elapsed * 1e9)
        if generation.cached or generation.latency_s <= 0:
            start_ns = self.submitted_ns  # a look-up, or a backend that does not time itself
        else:
            # The work ended when the call returned; it began latency_s earlier (anchoring at
            # the end needs nothing from the backend but the latency it already reports).
            start_ns = max(self.submitted_ns, end_ns - int(generation.latency_s * 1e9))
        queue_s = (start_ns - self.submitted_ns) / 1e9
        name = f"chat {model_name(self.backend.model_id)}"
        if generation.cached:
            name += f" · {CACHE_HIT}"
        span = self.span = _tracer.start_span(name, context=self.parent,
                                              kind=trace.SpanKind.CLIENT, start_time=start_ns)
        if span.is_recording():
            attributes = _request_attributes(self.request, self.backend)
            attributes.update(_generation_attributes(self.backend, generation, queue_s))
            span.set_attributes(attributes)
            if queue_s >= 0.001:
                span.add_event(BATCH_STARTED_EVENT, {"skillgap.queue_s": round(queue_s, 6),
                                                     "skillgap.batch_size": generation.batch_size},
                               timestamp=start_ns)
            if generation.error is not None:
                _fail(span, generation.error, "model_error")
        span.end(end_time=end_ns)

    def failed(self, exc: BaseException) -> None:
        elapsed = time.perf_counter() - self.started
        _record_duration(self.backend, elapsed, type(exc).__name__)
        if not enabled():
            return
        span = _tracer.start_span(f"chat {model_name(self.backend.model_id)}", context=self.parent,
                                  kind=trace.SpanKind.CLIENT, start_time=self.submitted_ns)
        if span.is_recording():
            span.set_attributes(_request_attributes(self.request, self.backend))
            span.record_exception(exc)
            _fail(span, f"{type(exc).__name__}: {exc}", type(exc).__name__)
        span.end(end_time=self.submitted_ns + int(elapsed * 1e9))


@contextmanager
def model_call(request: GenerationRequest, backend: Backend) -> Iterator[ModelCall]:
    """Around one backend call; call ``.done(generation)`` with its result (the span is written
    then). An exception writes a failed span and propagates."""
    call = ModelCall(request, backend)
    try:
        yield call
    except Exception as exc:
        call.failed(exc)
        raise


def _generation_attributes(backend: Backend, generation: Generation,
                           queue_s: float) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        gen_ai.GEN_AI_RESPONSE_MODEL: backend.model_id,
        gen_ai.GEN_AI_RESPONSE_FINISH_REASONS: (generation.finish_reason,),
        gen_ai.GEN_AI_USAGE_INPUT_TOKENS: generation.input_tokens,
        gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: generation.output_tokens,
        LLM_PROMPT_TOKENS: generation.input_tokens,
        LLM_COMPLETION_TOKENS: generation.output_tokens,
        LLM_TOTAL_TOKENS: generation.input_tokens + generation.output_tokens,
        OUTPUT_VALUE: generation.text,
        OUTPUT_MIME: "text/plain",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": generation.text,
        "skillgap.latency_s": generation.latency_s,
        "skillgap.queue_s": round(queue_s, 6),
        "skillgap.batch_size": generation.batch_size,
        "skillgap.cached": generation.cached,
    }
    if generation.cached:
        attributes[TAGS] = [CACHE_HIT]
    if generation.logprob is not None:
        attributes["skillgap.logprob"] = generation.logprob
    served_by = getattr(generation, "served_by", None)
    if served_by:
        attributes["skillgap.served_by"] = served_by
    return attributes


def _request_attributes(request: GenerationRequest, backend: Backend) -> dict[str, Any]:
    from ..backends._types import ImagePart

    params: dict[str, Any] = {"max_tokens": request.max_tokens, "temperature": request.temperature}
    name = model_name(backend.model_id)
    attributes: dict[str, Any] = {
        KIND: "LLM",
        gen_ai.GEN_AI_OPERATION_NAME: "chat",
        gen_ai.GEN_AI_PROVIDER_NAME: backend.name,
        gen_ai.GEN_AI_REQUEST_MODEL: backend.model_id,
        gen_ai.GEN_AI_REQUEST_MAX_TOKENS: request.max_tokens,
        gen_ai.GEN_AI_REQUEST_TEMPERATURE: request.temperature,
        LLM_MODEL: name,
        LLM_PROVIDER: backend.name,
        INPUT_VALUE: "\n".join(message.text for message in request.messages),
        INPUT_MIME: "text/plain",
        **{f"skillgap.{key}": value for key, value in scrub(request.metadata).items()},
    }
    if name != backend.model_id:
        attributes["skillgap.model_path"] = backend.model_id
    if request.seed is not None:
        attributes[gen_ai.GEN_AI_REQUEST_SEED] = params["seed"] = request.seed
    if request.constraint is not None:
        attributes["skillgap.constraint"] = request.constraint.kind
        params["constraint"] = request.constraint.kind
    attributes[LLM_PARAMS] = _json(params)
    for i, message in enumerate(request.messages):
        prefix = f"llm.input_messages.{i}.message"
        attributes[f"{prefix}.role"] = message.role
        for j, part in enumerate(message.content):
            content = f"{prefix}.contents.{j}.message_content"
            if isinstance(part, ImagePart):
                attributes[f"{content}.type"] = "image"
                attributes[f"{content}.image.image.url"] = image_url(part.image)
            else:
                attributes[f"{content}.type"] = "text"
                attributes[f"{content}.text"] = part.text
    return attributes


def _metric_attributes(backend: Backend, error_type: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        gen_ai.GEN_AI_OPERATION_NAME: "chat",
        gen_ai.GEN_AI_PROVIDER_NAME: backend.name,
        gen_ai.GEN_AI_REQUEST_MODEL: backend.model_id,
    }
    if error_type is not None:
        attributes["error.type"] = error_type
    return attributes


def _record_duration(backend: Backend, elapsed_s: float, error_type: str | None) -> None:
    if settings.duration is not None:
        settings.duration.record(elapsed_s, _metric_attributes(backend, error_type))


def _record_metrics(backend: Backend, generation: Generation, elapsed_s: float) -> None:
    if settings.duration is None or settings.token_usage is None:
        return
    error_type = None if generation.error is None else "model_error"
    _record_duration(backend, elapsed_s, error_type)
    attributes = _metric_attributes(backend, error_type)
    for kind, count in (("input", generation.input_tokens), ("output", generation.output_tokens)):
        settings.token_usage.record(count, {**attributes, gen_ai.GEN_AI_TOKEN_TYPE: kind})


def run_id(folder: Path) -> str:
    """The id of the run in ``folder`` (the session of its traces): the folder's name and the
    start time in its ``run.json``, so a resumed run keeps its session."""
    try:
        started = str(json.loads((folder / "run.json").read_text(encoding="utf-8"))["started"])
    except (OSError, ValueError, KeyError, TypeError):
        started = ""
    name = folder.resolve().name
    stamp = started.replace("-", "").replace(":", "")
    return f"{name}-{stamp}" if stamp else name
