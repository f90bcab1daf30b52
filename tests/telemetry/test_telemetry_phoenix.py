"""A real OTLP receiver: Phoenix, started from its own virtual environment, gets a small eval of
the embedded tiny model. Its REST API must show the eval as a user reads it (one trace per sample ×
strategy in the run's session, scores as annotations, model calls named by model and timed by the
model's work), and a real headless Chromium must show a sample's annotation badge."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from phoenix_helpers import PHOENIX_VENV, Phoenix, phoenix_executable

from skillgap.backends import load_backend
from skillgap.cli import main
from skillgap.evals import EvalConfig, read_records, run_eval
from skillgap.telemetry import TraceConfig, configure_tracing
from skillgap.telemetry._phoenix import is_phoenix
from skillgap.telemetry._spans import model_name, verdict

pytestmark = [pytest.mark.phoenix, pytest.mark.slow]

#: Where the screenshot of a sample's trace is kept for people to look at.
SCREENSHOT = Path(__file__).resolve().parents[2] / "runs" / "phoenix-sample-trace.png"


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


def _wait_for(fetch: Any, done: Any, timeout_s: float = 60.0) -> Any:
    """Phoenix ingests in the background: poll ``fetch()`` until ``done(result)`` (bounded)."""
    deadline = time.monotonic() + timeout_s
    result = fetch()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(1.0)
        result = fetch()
    return result


def _seconds(span: dict[str, Any]) -> float:
    start, end = (datetime.fromisoformat(span[key]) for key in ("start_time", "end_time"))
    return (end - start).total_seconds()


@pytest.fixture(scope="module")
def traced_run(phoenix: Phoenix, tiny_model_path: Path,
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One eval of the tiny model traced with ``phoenix:URL`` (a plain ``otlp:URL`` asks the
    endpoint first; on a loaded machine that question can be slow, so the test says it)."""
    project = f"skillgap-test-{uuid.uuid4().hex[:8]}"
    out = tmp_path_factory.mktemp("run")
    config = EvalConfig(tasks=["counting", "cards"], n=1, seed=11)
    backend = load_backend("transformers", str(tiny_model_path))
    assert is_phoenix(phoenix.url) and is_phoenix(f"{phoenix.url}/v1/traces")
    with configure_tracing(TraceConfig.parse(f"phoenix:{phoenix.url}", project_name=project)) as tracing:
        run_eval(config, backend, out, show_progress=False)
    assert tracing.export_failures == 0
    records = read_records(out)
    calls = sum(record.calls for record in records if record.strategy != "visual")
    assert calls > 0

    def complete(spans: list[dict]) -> bool:
        ids = {span["context"]["span_id"] for span in spans}
        llm = [span for span in spans if span["span_kind"] == "LLM"]
        return len(llm) == calls and all(record.span_id in ids for record in records)

    spans = _wait_for(lambda: phoenix.spans(project), complete)
    assert complete(spans), f"{len(spans)} spans arrived; log: {phoenix.log()}"
    return {"project": project, "out": out, "records": records, "spans": spans,
            "model": backend.model_id}


def test_one_trace_per_sample_and_strategy_in_one_session(phoenix: Phoenix,
                                                          traced_run: dict[str, Any]) -> None:
    project, records, spans = traced_run["project"], traced_run["records"], traced_run["spans"]
    by_id = {span["context"]["span_id"]: span for span in spans}
    roots = [span for span in spans if span["parent_id"] is None]
    (run,) = [span for span in roots if span["name"].startswith("eval run ")]
    sample_roots = [span for span in roots if span is not run]
    pairs = {(r.task, r.sample_id, r.strategy) for r in records if r.strategy != "visual"}
    assert len(sample_roots) == len(pairs)
    assert {span["name"] for span in sample_roots} == {f"sample {s} · {t}" for _, s, t in pairs}
    assert all(span["parent_id"] in by_id for span in spans if span["parent_id"] is not None)
    assert {"CHAIN", "LLM", "EVALUATOR"} <= {span["span_kind"] for span in spans}

    traces = phoenix.get(f"/v1/projects/{project}/traces?limit=1000")["data"]
    assert {trace["trace_id"] for trace in traces} == {span["context"]["trace_id"] for span in roots}
    assert len(traces) == len(pairs) + 1  # and the run's short trace

    session_id = run["attributes"]["session.id"]
    (session,) = phoenix.get(f"/v1/projects/{project}/sessions")["data"]
    assert session["session_id"] == session_id
    assert {trace["trace_id"] for trace in session["traces"]} == {trace["trace_id"] for trace in traces}
    for record in records:
        span = by_id[record.span_id]
        assert span["context"]["trace_id"] == record.trace_id
        if record.strategy != "visual":
            # Phoenix's REST API flattens attributes (and the metadata JSON) into dotted keys.
            assert span["attributes"]["metadata.sample_id"] == record.sample_id
            assert span["attributes"]["metadata.gold"] == record.gold
            assert record.task in span["attributes"]["tag.tags"]
            assert "gen_ai.evaluation.score.label" in span["attributes"]  # for other receivers


def test_scores_are_span_annotations_with_labels(phoenix: Phoenix,
                                                 traced_run: dict[str, Any]) -> None:
    project, records = traced_run["project"], traced_run["records"]
    query = "&".join(f"span_ids={record.span_id}" for record in records)

    def annotations() -> list[dict]:
        return list(phoenix.get(f"/v1/projects/{project}/span_annotations?{query}&limit=1000")["data"])

    found = _wait_for(annotations, lambda found: len(found) == len(records))
    by_span = {annotation["span_id"]: annotation for annotation in found}
    assert len(by_span) == len(found) == len(records)
    for record in records:
        annotation = by_span[record.span_id]
        assert annotation["name"] == "exact_match" and annotation["annotator_kind"] == "CODE"
        result = annotation["result"]
        assert result["label"] == verdict(record)
        assert result["score"] == (None if verdict(record) in ("error", "invalid")
                                   else float(record.correct))
        assert repr(record.gold) in result["explanation"]

    # On demand, for a finished run: posted again, each span still has one exact_match.
    assert main(["trace", "annotate", str(traced_run["out"]), "--phoenix", phoenix.url]) == 0
    again = annotations()
    assert len(again) == len(records)
    assert {a["id"] for a in again} == {a["id"] for a in found}


def test_model_calls_are_named_by_model_and_timed_by_its_work(traced_run: dict[str, Any]) -> None:
    spans, model = traced_run["spans"], traced_run["model"]
    folder = str(Path(model).parent)
    for span in spans:
        assert folder not in span["name"], span["name"]  # no filesystem paths in names
    calls = [span for span in spans if span["span_kind"] == "LLM"]
    for span in calls:
        attributes = span["attributes"]
        assert span["name"] == f"chat {model_name(model)}"
        assert attributes["llm.model_name"] == model_name(model)
        assert attributes["gen_ai.request.model"] == model  # the full path, as an attribute
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == "transformers"
        assert "output.value" in attributes and attributes["input.value"]
        # The span is the model's work (the latency the backend measured), not queue or wait.
        recorded = attributes["skillgap.latency_s"]
        assert _seconds(span) == pytest.approx(recorded, rel=0.01, abs=0.002)
    vision = [span for span in calls
              if span["attributes"]["skillgap.skill"] in ("list_objects", "read_cards")]
    assert vision
    for span in vision:
        urls = [value for key, value in span["attributes"].items() if key.endswith("image.url")]
        assert urls and all(str(url).startswith("data:image/png;base64,") for url in urls)


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_a_real_browser_shows_a_samples_annotation_badge(phoenix: Phoenix, traced_run: dict[str, Any],
                                                         tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    record = next(r for r in traced_run["records"] if r.strategy == "cascaded")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    # The link samples.jsonl gives a user: Phoenix redirects to the trace, this span selected.
    url = f"{phoenix.url}/redirects/spans/{record.span_id}"
    done = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1600,1000", "--virtual-time-budget=10000",
         f"--screenshot={SCREENSHOT}", "--dump-dom", url],
        capture_output=True, text=True, timeout=150, check=False)
    dom = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert SCREENSHOT.stat().st_size > 10_000
    assert f"sample {record.sample_id} · cascaded" in dom
    # The annotation badge on the sample span in the trace tree: its name, then the score (the
    # label when the call failed and there is no score).
    expected = verdict(record)
    if expected not in ("error", "invalid"):
        expected = f"{float(record.correct):.2f}"
    assert _badge_after(dom, f"sample {record.sample_id} · cascaded") == ["exact_match", expected]


def _badge_after(dom: str, text: str) -> list[str]:
    """The words of the first exact_match annotation badge after ``text`` in a page."""
    start = dom.index(text)
    badge = dom.index('title="exact_match"', start)
    words = html.unescape(re.sub(r"<[^>]*>", " ", dom[dom.index(">", badge) + 1:badge + 1500]))
    return [word for word in words.split() if word not in ("μ", "µ")][:2]
