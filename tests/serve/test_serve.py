"""``skillgap serve``: real clients (the official openai SDK, httpx, skillgap's own backend) against
the server on 127.0.0.1, on the embedded tiny model and on the mock backend."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from skillgap.backends import (
    Constraint,
    Generation,
    GenerationRequest,
    Message,
    MockBackend,
    OpenAIBackend,
    TextPart,
)
from skillgap.backends._openai import image_url
from skillgap.backends._transformers import TransformersBackend
from skillgap.evals import EvalConfig, read_records, run_eval
from skillgap.serve import serve_process, serving
from skillgap.tasks._generators import generate

SCHEMA = {
    "type": "object",
    "properties": {"colour": {"enum": ["red", "green", "blue"]}},
    "required": ["colour"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def tiny_server(tiny_model_path: Path) -> Iterator[str]:
    backend = TransformersBackend(tiny_model_path, max_batch_size=8)
    with serving(backend, "tiny") as url:
        yield url


@pytest.mark.slow
def test_the_openai_sdk_talks_to_skillgap_serve(tiny_server: str) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=tiny_server, api_key="not-needed", max_retries=0, timeout=120)
    assert [model.id for model in client.models.list()] == ["tiny"]

    text = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "2+3="}], max_tokens=8, temperature=0,
        logprobs=True,
    )
    assert text.choices[0].finish_reason in ("stop", "length")
    assert text.usage is not None and text.usage.prompt_tokens > 0
    assert text.choices[0].logprobs is not None
    assert text.choices[0].logprobs.content is not None
    assert text.choices[0].logprobs.content[0].logprob <= 0

    sample = generate("counting", 1, seed=3, layout="grid")[0]
    image = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "How many red objects?"},
            {"type": "image_url", "image_url": {"url": image_url(sample.image)}},
        ]}],
        max_tokens=4, temperature=0, extra_body={"structured_outputs": {"regex": "[0-9]{1,2}"}},
    )
    assert re.fullmatch("[0-9]{1,2}", image.choices[0].message.content or "")

    structured = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Pick a colour."}], max_tokens=64,
        temperature=0,
        response_format={"type": "json_schema",
                         "json_schema": {"name": "colour", "schema": SCHEMA, "strict": True}},
    )
    jsonschema.validate(json.loads(structured.choices[0].message.content or ""), SCHEMA)

    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


@pytest.fixture(scope="module")
def mock_server() -> Iterator[str]:
    backend = MockBackend(handler=lambda request: "42", model_id="mock")
    with serving(backend, "mock", max_image_bytes=2000, max_image_pixels=64 * 64) as url:
        yield url


def _post(url: str, body: object) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url + "/chat/completions", content=content,
                      headers={"Content-Type": "application/json"}, timeout=30)


def _png(side: int) -> str:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((side, side), 64).convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _with_image(url: str) -> dict[str, object]:
    return {"model": "mock", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]}]}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, 404,
         "the model 'gpt-4o' does not exist; this server serves 'mock'"),
        ({"model": "mock"}, 400, "'messages' must be a non-empty list"),
        ({"model": "mock", "messages": [{"role": "tool", "content": "x"}]}, 400,
         "messages[0].role must be one of"),
        (_with_image("data:text/plain;base64,aGVsbG8="), 400, "'text/plain', not an image"),
        (_with_image("https://example.com/cat.png"), 400, "only base64 data: URLs are accepted"),
        (_with_image("data:image/png;base64,aGVsbG8="), 400, "not a readable image"),
        (_with_image("data:image/png;base64,%%%"), 400, "not valid base64"),
        (_with_image(_png(200)), 400, "this server accepts at most 2000"),
        ({"model": "mock", "messages": [{"role": "user", "content": "hi"}], "stream": True}, 400,
         "streaming is not supported"),
        ({"model": "mock", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400,
         "'max_tokens' must be a positive integer"),
    ],
    ids=["malformed-json", "unknown-model", "no-messages", "bad-role", "non-image-data-url",
         "remote-url", "undecodable-image", "bad-base64", "oversized-image", "stream", "max-tokens"],
)
def test_bad_requests_get_clear_4xx_and_the_server_keeps_serving(
    mock_server: str, body: object, status: int, message: str
) -> None:
    url = mock_server
    refused = _post(url, body)
    assert refused.status_code == status
    error = refused.json()["error"]
    assert message in error["message"]
    assert error["type"] in ("invalid_request_error", "NotFoundError")
    fine = _post(url, _with_image(_png(8)))
    assert fine.status_code == 200, fine.text
    assert fine.json()["choices"][0]["message"]["content"] == "42"


class ArrivalCounter:
    """A backend that counts the requests reaching it, then hands them to ``backend``."""

    def __init__(self, backend: MockBackend):
        self.backend, self.name, self.model_id, self.arrived = backend, backend.name, backend.model_id, 0

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.arrived += len(requests)
        return await self.backend.generate(requests)

    def describe(self) -> dict[str, Any]:
        return self.backend.describe()


def test_concurrent_requests_share_batches_and_constraints_arrive() -> None:
    held: list[str] = []

    def handler(request: GenerationRequest) -> str:
        if not held:  # hold the first batch until every request has arrived: the rest pile up
            held.append(request.messages[0].text)
            deadline = time.monotonic() + 30
            while counter.arrived < 12 and time.monotonic() < deadline:
                time.sleep(0.01)
        return "42"

    mock = MockBackend(handler=handler, model_id="mock", logprob=-0.25, max_batch_size=16)
    counter = ArrivalCounter(mock)
    requests = [
        GenerationRequest(messages=(Message(content=(TextPart(text=f"q{i}"),)),),
                          constraint=Constraint(kind="regex", pattern="[0-9]+"), seed=i)
        for i in range(12)
    ]
    with serving(counter, "mock") as url:
        client = OpenAIBackend("mock", base_url=url, concurrency=16, structured_outputs="vllm-legacy")
        generations = asyncio.run(client.generate(requests))
    assert [g.text for g in generations] == ["42"] * 12
    assert all(g.logprob == -0.25 and g.error is None for g in generations)
    assert sorted(r.seed or 0 for r in mock.requests) == list(range(12))
    assert all(r.constraint is not None and r.constraint.pattern == "[0-9]+" for r in mock.requests)
    assert max(mock.batch_sizes) > 1  # concurrent HTTP requests were coalesced


@pytest.fixture(scope="module")
def served_by_cli(tiny_model_path: Path, tiny_model_cache: Path) -> Iterator[str]:
    """``skillgap serve`` as a user runs it, in its own process, on a free port."""
    env = {"SKILLGAP_CACHE": str(tiny_model_cache), "HF_HUB_OFFLINE": "1"}
    with serve_process("--model", str(tiny_model_path), "--served-model-name", "tiny",
                       "--log-level", "warning", env=env, start_timeout_s=180) as server:
        yield server.url


@pytest.mark.slow
def test_eval_over_http_equals_the_eval_in_process(
    served_by_cli: str, tiny_model_path: Path, tmp_path: Path
) -> None:
    config = EvalConfig(tasks=["rendered_text", "counting", "cards"], n=2, seed=11, layout="grid")
    local = TransformersBackend(tiny_model_path, max_batch_size=8)
    remote = OpenAIBackend.connect(served_by_cli)
    assert remote.model_id == "tiny" and remote.native_layout == "grid"
    run_eval(config, local, tmp_path / "local", show_progress=False)
    run_eval(config, remote, tmp_path / "http", show_progress=False)
    local_records = {record.key(): record for record in read_records(tmp_path / "local")}
    http_records = {record.key(): record for record in read_records(tmp_path / "http")}
    assert set(local_records) == set(http_records) and len(local_records) == 3 * 2 * 5
    for key, want in local_records.items():
        got = http_records[key]
        assert (got.raw, got.prediction, got.correct, got.error) == (
            want.raw, want.prediction, want.correct, want.error), key
        if want.logprob is not None:
            assert got.logprob == pytest.approx(want.logprob, rel=1e-3, abs=1e-3), key


def test_serve_on_a_busy_port_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from skillgap.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--backend", "mock", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
