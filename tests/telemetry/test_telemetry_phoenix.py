"""A real OTLP receiver: Phoenix, started from its own virtual environment, gets a small eval of
the embedded tiny model; its REST API must show every span with its kind and attributes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from phoenix_helpers import PHOENIX_VENV, Phoenix, phoenix_executable

from skillgap.backends import load_backend
from skillgap.evals import EvalConfig, read_records, run_eval
from skillgap.telemetry import TraceConfig, configure_tracing

pytestmark = [pytest.mark.phoenix, pytest.mark.slow]


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    executable = phoenix_executable()
    if executable is None:
        pytest.skip(f"Phoenix is not installed in {PHOENIX_VENV}: run `make phoenix` "
                    "(arize-phoenix in its own virtual environment, about 2 minutes)")
    server = Phoenix(executable, tmp_path_factory.mktemp("phoenix"))
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def _wait_for(phoenix: Phoenix, project: str, done: Any, timeout_s: float = 60.0) -> list[dict]:
    """Phoenix ingests in the background: poll until ``done(spans)`` (bounded)."""
    deadline = time.monotonic() + timeout_s
    spans = phoenix.spans(project)
    while not done(spans) and time.monotonic() < deadline:
        time.sleep(1.0)
        spans = phoenix.spans(project)
    return spans


def test_an_evals_spans_arrive_in_phoenix(phoenix: Phoenix, tiny_model_path: Path,
                                          tmp_path: Path) -> None:
    project = f"skillgap-test-{uuid.uuid4().hex[:8]}"
    config = EvalConfig(tasks=["counting", "cards"], n=1, seed=11)
    backend = load_backend("transformers", str(tiny_model_path))
    trace_config = TraceConfig.parse(f"otlp:{phoenix.url}", project_name=project)
    with configure_tracing(trace_config) as tracing:
        run_eval(config, backend, tmp_path, show_progress=False)
    assert tracing.export_failures == 0
    records = read_records(tmp_path)
    calls = sum(record.calls for record in records if record.strategy != "visual")
    assert calls > 0

    def complete(spans: list[dict]) -> bool:
        ids = {span["context"]["span_id"] for span in spans}
        llm = [span for span in spans if span["span_kind"] == "LLM"]
        return len(llm) == calls and all(record.span_id in ids for record in records)

    spans = _wait_for(phoenix, project, complete)
    assert complete(spans), f"{len(spans)} spans arrived; log: {phoenix.log()}"
    by_id = {span["context"]["span_id"]: span for span in spans}
    assert {"CHAIN", "LLM", "EVALUATOR"} <= {span["span_kind"] for span in spans}
    (root,) = [span for span in spans if span["parent_id"] is None]
    assert root["name"] == "eval run"
    assert all(span["parent_id"] in by_id for span in spans if span is not root)
    assert {span["context"]["trace_id"] for span in spans} == {records[0].trace_id}

    for record in records:
        sample = by_id[record.span_id]
        assert sample["name"] == "sample"
        assert sample["attributes"]["skillgap.sample_id"] == record.sample_id
        assert "gen_ai.evaluation.score.value" in sample["attributes"]

    model = backend.model_id
    for span in (span for span in spans if span["span_kind"] == "LLM"):
        attributes = span["attributes"]
        assert span["name"] == f"chat {model}"
        assert attributes["gen_ai.request.model"] == attributes["llm.model_name"] == model
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == "transformers"
        assert attributes["gen_ai.usage.input_tokens"] > 0
        assert attributes["gen_ai.response.finish_reasons"]
        assert "output.value" in attributes and attributes["input.value"]
        assert by_id[span["parent_id"]]["name"].startswith("skill ")
    vision = [span for span in spans if span["span_kind"] == "LLM"
              and span["attributes"].get("skillgap.skill") in ("list_objects", "read_cards")]
    assert vision
    for span in vision:
        parts = [value for key, value in span["attributes"].items() if key.endswith("image.url")]
        assert parts and all(str(url).startswith("data:image/png;base64,") for url in parts)
