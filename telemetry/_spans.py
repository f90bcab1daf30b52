"""The spans of a run, opened by the runner and the graphs through these small helpers.

The tree: ``eval run`` → ``sample`` (one per sample × strategy) → ``graph <strategy>`` → ``skill
<name>`` (one per node) → ``chat <model>`` (the model call), with ``score`` under the sample. Every
helper uses the global tracer named "skillgap", so spans that other code opens with the same tracer
(a router's decision inside a strategy graph) nest by the current context. Model-call spans carry
the OpenTelemetry GenAI attributes and the OpenInference ones Phoenix renders.

With no tracer provider configured the tracer is a no-op: helpers check ``is_recording()`` before
building any attribute, so tracing off costs a few microseconds per span and no image encoding.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import Span, Status, StatusCode

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
LLM_MODEL = "llm.model_name"
LLM_PROVIDER = "llm.provider"
LLM_PARAMS = "llm.invocation_parameters"
LLM_PROMPT_TOKENS = "llm.token_count.prompt"
LLM_COMPLETION_TOKENS = "llm.token_count.completion"
LLM_TOTAL_TOKENS = "llm.token_count.total"

EVALUATION_EVENT = "gen_ai.evaluation.result"
REDACTED_IMAGE = "redacted"
#: Keys whose values never reach a span (backend descriptions can hold credentials).
_SECRET = re.compile(r"api[_-]?key|authori[sz]ation|secret|password|passwd|credential|cookie|"
                     r"bearer|headers?$|^token$|access[_-]?token", re.IGNORECASE)


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
def _start(name: str, kind: trace.SpanKind = trace.SpanKind.INTERNAL) -> Iterator[Span]:
    """A current span, or with tracing off the invalid span without touching the context."""
    if not enabled():
        yield trace.INVALID_SPAN
        return
    with _tracer.start_as_current_span(name, kind=kind) as span:
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


def _json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def _text(value: Any) -> str:
    """A graph input as text; images by reference (their pixels go on the model-call span)."""
    from ..backends._types import ImageRef
    from ..skills._formats import render_value

    if isinstance(value, ImageRef):
        return REDACTED_IMAGE if settings.redact_images else value.short()
    return render_value(value)


def _fail(span: Span, message: str, error_type: str) -> None:
    span.set_status(Status(StatusCode.ERROR, message))
    span.set_attribute("error.type", error_type)


@contextmanager
def run_span(config: Mapping[str, Any], backend: Mapping[str, Any]) -> Iterator[Span]:
    """The root span of an eval run."""
    with _start("eval run") as span:
        if span.is_recording():
            span.set_attributes({
                KIND: "CHAIN",
                INPUT_VALUE: _json(scrub(config)),
                INPUT_MIME: "application/json",
                METADATA: _json({"backend": scrub(backend)}),
                "skillgap.tasks": list(config.get("tasks", [])),
                "skillgap.strategies": list(config.get("strategies", [])),
                gen_ai.GEN_AI_REQUEST_MODEL: str(backend.get("model", "")),
                gen_ai.GEN_AI_PROVIDER_NAME: str(backend.get("backend", "")),
            })
        yield span


@contextmanager
def sample_span(task: str, sample_id: str, strategy: str, question: str = "") -> Iterator[Span]:
    """One sample × strategy; :func:`finish_sample` records its evaluation."""
    with _start("sample") as span:
        if span.is_recording():
            span.set_attributes({
                KIND: "CHAIN",
                INPUT_VALUE: question,
                "skillgap.task": task,
                "skillgap.sample_id": sample_id,
                "skillgap.strategy": strategy,
            })
        yield span


@contextmanager
def score_span(strategy: str) -> Iterator[Span]:
    """Scoring of a graph result; :func:`record_evaluations` fills it."""
    with _start("score") as span:
        if span.is_recording():
            span.set_attributes({KIND: "EVALUATOR", "skillgap.strategy": strategy})
        yield span


def record_evaluations(span: Span, records: Sequence[Any]) -> None:
    """Each record's score as a ``gen_ai.evaluation.result`` event (and the first record's as
    attributes) on ``span``; records are ``SampleRecord``-like (strategy, correct, gold, ...)."""
    if not span.is_recording() or not records:
        return
    for index, record in enumerate(records):
        result = {
            gen_ai.GEN_AI_EVALUATION_NAME: "exact_match",
            gen_ai.GEN_AI_EVALUATION_SCORE_VALUE: 1.0 if record.correct else 0.0,
            gen_ai.GEN_AI_EVALUATION_SCORE_LABEL: "correct" if record.correct else "incorrect",
            gen_ai.GEN_AI_EVALUATION_EXPLANATION:
                f"predicted {record.prediction!r}, gold {record.gold!r}"
                + (f"; {record.error}" if record.error else ""),
            "skillgap.strategy": record.strategy,
        }
        span.add_event(EVALUATION_EVENT, result)
        if index == 0:
            span.set_attributes({**result, OUTPUT_VALUE: record.prediction or "",
                                 "skillgap.correct": bool(record.correct)})


def finish_sample(span: Span, records: Sequence[Any]) -> list[Any]:
    """Record the evaluations on the sample span and return the records carrying its ids."""
    record_evaluations(span, records)
    if span.is_recording() and records and records[0].error:
        _fail(span, records[0].error, "sample_error")
    ids = span_ids(span)
    return [record.model_copy(update=ids) for record in records]


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
    """One skill node of a graph."""
    with _start(f"skill {skill}") as span:
        if span.is_recording():
            span.set_attributes({KIND: "CHAIN", "skillgap.graph": graph, "skillgap.node": node,
                                 "skillgap.skill": skill, "skillgap.modality": modality})
        yield span


def finish_node(span: Span, result: Any) -> None:
    """``result`` is the node's ``NodeResult``."""
    if not span.is_recording():
        return
    span.set_attributes({OUTPUT_VALUE: result.raw or "", "skillgap.skipped": result.skipped})
    if result.parse_failure:
        span.set_attribute("skillgap.parse_failure", True)
    if result.error is not None:
        _fail(span, result.error, "skipped" if result.skipped else "node_error")


class ModelCall:
    """The span of one model call, open in the caller's task (batching backends generate in a
    worker thread, where the caller's context is not current)."""

    def __init__(self, span: Span, request: GenerationRequest, backend: Backend):
        self.span = span
        self.request = request
        self.backend = backend
        self.started = time.perf_counter()

    def done(self, generation: Generation) -> None:
        elapsed = time.perf_counter() - self.started
        _record_metrics(self.backend, generation, elapsed)
        span = self.span
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {
            gen_ai.GEN_AI_RESPONSE_MODEL: self.backend.model_id,
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
            "skillgap.batch_size": generation.batch_size,
            "skillgap.cached": generation.cached,
        }
        if generation.logprob is not None:
            attributes["skillgap.logprob"] = generation.logprob
        span.set_attributes(attributes)
        if generation.error is not None:
            _fail(span, generation.error, "model_error")


@contextmanager
def model_call(request: GenerationRequest, backend: Backend) -> Iterator[ModelCall]:
    """A ``chat`` span around one backend call; call ``.done(generation)`` with its result."""
    with _start(f"chat {backend.model_id}", trace.SpanKind.CLIENT) as span:
        if span.is_recording():
            span.set_attributes(_request_attributes(request, backend))
        call = ModelCall(span, request, backend)
        try:
            yield call
        except Exception as exc:
            _record_duration(backend, time.perf_counter() - call.started, type(exc).__name__)
            raise


def _request_attributes(request: GenerationRequest, backend: Backend) -> dict[str, Any]:
    from ..backends._types import ImagePart

    params: dict[str, Any] = {"max_tokens": request.max_tokens, "temperature": request.temperature}
    attributes: dict[str, Any] = {
        KIND: "LLM",
        gen_ai.GEN_AI_OPERATION_NAME: "chat",
        gen_ai.GEN_AI_PROVIDER_NAME: backend.name,
        gen_ai.GEN_AI_REQUEST_MODEL: backend.model_id,
        gen_ai.GEN_AI_REQUEST_MAX_TOKENS: request.max_tokens,
        gen_ai.GEN_AI_REQUEST_TEMPERATURE: request.temperature,
        LLM_MODEL: backend.model_id,
        LLM_PROVIDER: backend.name,
        INPUT_VALUE: "\n".join(message.text for message in request.messages),
        INPUT_MIME: "text/plain",
        **{f"skillgap.{key}": value for key, value in scrub(request.metadata).items()},
    }
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
