"""The openai backend against real HTTP servers on 127.0.0.1: retries, fallbacks, secrets."""

from __future__ import annotations

import asyncio
import base64
import random
from email.utils import formatdate
from pathlib import Path
from time import time

import pytest
from fault_server import FaultServer

from skillgap.backends import (
    Constraint,
    GenerationRequest,
    ImagePart,
    ImageRef,
    Message,
    MockBackend,
    OpenAIBackend,
    TextPart,
    load_backend,
)
from skillgap.backends._openai import image_url, openai_messages, retry_delay
from skillgap.cli import main
from skillgap.evals import EvalConfig, read_records, run_eval
from skillgap.serve import serving

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


def _request(text: str = "How many?", constraint: Constraint | None = None) -> GenerationRequest:
    return GenerationRequest(messages=(Message(content=(TextPart(text=text),)),), constraint=constraint)


def test_retry_delay_grows_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(0)
    for attempt in range(6):
        ceiling = min(8.0, 0.5 * 2**attempt)
        delays = [retry_delay(attempt, backoff_s=0.5, max_backoff_s=8.0, rng=rng) for _ in range(20)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered
    assert retry_delay(0, "3", backoff_s=0.5, max_backoff_s=8.0) == 3.0
    assert retry_delay(0, "120", backoff_s=0.5, max_backoff_s=8.0) == 8.0  # capped
    later = formatdate(time() + 5, usegmt=True)
    assert 3.0 <= retry_delay(0, later, backoff_s=0.5, max_backoff_s=8.0) <= 5.0
    assert retry_delay(0, "soon", backoff_s=0.5, max_backoff_s=8.0, rng=rng) <= 0.5  # unparseable


def test_messages_carry_images_as_data_urls_in_order() -> None:
    image = ImageRef.from_bytes(PNG)
    request = GenerationRequest(messages=(
        Message(role="system", content=(TextPart(text="Be brief."),)),
        Message(content=(TextPart(text="Read:"), ImagePart(image=image), TextPart(text="now"))),
    ))
    system, user = openai_messages(request)
    assert system == {"role": "system", "content": "Be brief."}
    assert [part["type"] for part in user["content"]] == ["text", "image_url", "text"]
    url = user["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == PNG
    jpeg = ImageRef.from_bytes(b"\xff\xd8\xff\xe0fake")
    assert image_url(jpeg).startswith("data:image/jpeg;base64,")


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="structured_outputs must be one of"):
        OpenAIBackend("m", structured_outputs="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="http"):
        OpenAIBackend("m", base_url="ftp://host/v1")
    with pytest.raises(ValueError, match="concurrency"):
        OpenAIBackend("m", concurrency=0)


def test_describe_names_the_server_but_never_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLGAP_API_KEY", "sk-secret-123")
    backend = OpenAIBackend("m", base_url="http://user:pw@gpu.example:8000/v1?token=t")
    described = backend.describe()
    assert described["base_url"] == "http://gpu.example:8000/v1"
    assert "sk-secret-123" not in repr(described) + repr(backend)
    assert "pw" not in repr(described) and "token" not in repr(described)


def test_connect_picks_the_served_model_and_its_layout() -> None:
    mock = MockBackend(handler=lambda request: "7", model_id="mock")
    mock.native_layout = "grid"  # type: ignore[attr-defined]
    with serving(mock, "tiny") as url:
        backend = load_backend("openai", base_url=url)
        assert (backend.model_id, getattr(backend, "native_layout", None)) == ("tiny", "grid")
        with pytest.raises(ValueError, match="does not serve 'other'; it serves: tiny"):
            load_backend("openai", "other", base_url=url)
        (generation,) = asyncio.run(backend.generate([_request()]))
    assert generation.text == "7" and generation.error is None


def test_unreachable_server_without_a_model_is_a_clear_error() -> None:
    with FaultServer(lambda key, attempt: "ok").running() as url:
        dead = url  # the port is closed once the server stops
    with pytest.raises(ValueError, match="cannot list the models"):
        load_backend("openai", base_url=dead)


def test_faults_are_retried_and_persistent_errors_recorded_per_sample(tmp_path: Path) -> None:
    """503s, 429 + Retry-After, stalls past the timeout and resets mid-answer are retried; the
    first three distinct requests fail on every attempt. The eval still records every sample
    exactly once, with the persistent failures as those samples' errors."""
    doomed: list[str] = []
    faults = ("503", "429", "stall", "reset")

    def plan(key: str, attempt: int) -> str:
        if attempt == 0 and len(doomed) < 3:
            doomed.append(key)
        if key in doomed:
            return "503" if attempt % 2 else "reset"
        if attempt < 2:
            return faults[(int(key[:8], 16) + attempt) % len(faults)]
        return "ok"

    server = FaultServer(plan, answer="3", stall_s=4.0)
    config = EvalConfig(tasks=["counting"], strategies=["direct"], skills=False, n=10, seed=7,
                        layout="grid", concurrency=10)
    with server.running() as url:
        backend = OpenAIBackend("faulty", base_url=url, timeout_s=2.0, max_retries=3, backoff_s=0.01,
                                max_backoff_s=1.0, concurrency=10)
        run_eval(config, backend, tmp_path / "run", show_progress=False)
    records = read_records(tmp_path / "run")
    assert len(records) == 10
    assert len({record.key() for record in records}) == 10  # each sample exactly once
    failed = [record for record in records if record.error]
    assert len(failed) == 3
    assert all("gave up after 4 attempts" in (record.error or "") for record in failed)
    assert all(record.prediction == "3" for record in records if not record.error)
    assert all(server.attempts[key] == 4 for key in doomed)
    assert len(server.attempts) == 10
    assert all(server.actions[action] > 0 for action in (*faults, "ok"))


def test_a_rejected_constraint_falls_back_to_parsing(caplog: pytest.LogCaptureFixture) -> None:
    """A server that refuses vLLM's regex field (400) gets requests without it from then on."""
    known = {"model", "messages", "max_tokens", "temperature", "seed", "logprobs", "response_format"}
    server = FaultServer(lambda key, attempt: "ok", answer="12", known_fields=known)
    constraint = Constraint(kind="regex", pattern="[0-9]{1,3}")
    with server.running() as url:
        backend = OpenAIBackend("faulty", base_url=url, max_retries=0)
        first = asyncio.run(backend.generate([_request("a", constraint)]))
        second = asyncio.run(backend.generate([_request("b", constraint)]))
    assert [g.text for g in first + second] == ["12", "12"]
    assert [("structured_outputs" in body) for body in server.bodies] == [True, False, False]
    assert "structured_outputs" in caplog.text


def test_a_genuine_client_error_is_not_retried() -> None:
    server = FaultServer(lambda key, attempt: "400")
    with server.running() as url:
        backend = OpenAIBackend("faulty", base_url=url, max_retries=3, logprobs=False)
        (generation,) = asyncio.run(backend.generate([_request()]))
    assert generation.finish_reason == "error"
    assert generation.error is not None and generation.error.startswith("HTTP 400")
    assert len(server.bodies) == 1


def test_an_echoed_key_is_redacted_from_errors() -> None:
    server = FaultServer(lambda key, attempt: "401")
    with server.running() as url:
        backend = OpenAIBackend("faulty", base_url=url, api_key="sk-echoed-456")
        (generation,) = asyncio.run(backend.generate([_request()]))
    assert server.authorizations == {"Bearer sk-echoed-456"}
    assert generation.error == "HTTP 401: Incorrect API key provided: ***"


def test_eval_cli_over_http_sends_the_key_but_never_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SKILLGAP_API_KEY", "sk-test-never-logged")
    server = FaultServer(lambda key, attempt: "ok", answer="3")
    out = tmp_path / "run"
    with server.running() as url:
        code = main(["eval", "--backend", "openai", "--base-url", url, "--tasks", "counting",
                     "--strategies", "direct", "--no-skills", "--n", "2", "--out", str(out),
                     "--no-cache", "--quiet"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert server.authorizations == {"Bearer sk-test-never-logged"}
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md", ".html"):
            assert "sk-test-never-logged" not in path.read_text(errors="replace"), path
    assert "sk-test-never-logged" not in printed.out + printed.err
    assert len(read_records(out)) == 2


def test_base_url_needs_the_openai_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "--backend", "mock", "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path)])
    assert code == 2
    assert "--base-url needs --backend openai" in capsys.readouterr().err
