"""``skillgap serve`` under hostile input and overload (issue 13): client mistakes are 4xx naming
the field (never 500), bodies and queues are bounded, each request has a deadline, and an API key
guards every route but /health."""

from __future__ import annotations

import base64
import concurrent.futures
import time
from collections.abc import Iterator

import httpx
import pytest
from hostile_images import png, png_claiming, truncated_png

from skillgap.backends import Generation, GenerationRequest, MockBackend
from skillgap.cli import main
from skillgap.serve import serving

HI = [{"role": "user", "content": "hi"}]


def _deep_schema(depth: int) -> dict[str, object]:
    schema: dict[str, object] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    return schema


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(MockBackend(handler=lambda request: "42"), "mock", max_body_bytes=256 * 1024) as url:
        yield url


def _post(url: str, body: object, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else httpx.Request("POST", url, json=body).content
    return httpx.post(url + "/chat/completions", content=content, timeout=30,
                      headers={"Content-Type": "application/json", **headers})


def _image(data: bytes) -> dict[str, object]:
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    return {"model": "mock", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]}]}


@pytest.mark.parametrize(
    ("body", "status", "param", "message"),
    [
        ({"model": "mock", "messages": HI, "guided_regex": "(unclosed"}, 400, "guided_regex",
         "not a valid regular expression"),
        ({"model": "mock", "messages": HI, "structured_outputs": {"regex": "[z-a]"}}, 400,
         "structured_outputs.regex", "not a valid regular expression"),
        ({"model": "mock", "messages": HI, "response_format": {
            "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}}}, 400,
         "response_format.json_schema.schema", "not a valid JSON schema"),
        ({"model": "mock", "messages": HI, "guided_json": "{not json"}, 400, "guided_json",
         "not a JSON schema"),
        ({"model": "mock", "messages": HI, "guided_choice": []}, 400, "guided_choice", "non-empty list"),
        ({"model": "mock", "messages": HI, "temperature": "hot"}, 400, "temperature", "number >= 0"),
        (b"[" * 100_000 + b"]" * 100_000, 400, None, "nested deeper than 64"),
        ({"model": "mock", "messages": HI, "response_format": {"type": "json_schema", "json_schema": {
            "schema": _deep_schema(80)}}}, 400, None, "nested deeper than 64"),
        (b'{"model": "mock", "messages": [{"role": "user", "content": "' + b"a" * 300_000 + b'"}]}',
         413, None, "at most 262144"),
        (_image(png_claiming(100_000, 100_000)), 400, "messages[0].content[1].image_url.url",
         "decompression bomb"),
        (_image(png_claiming(5_000, 5_000)), 400, "messages[0].content[1].image_url.url", "pixels"),
    ],
    ids=["bad-regex", "bad-extension-regex", "non-schema", "schema-not-json", "empty-choice",
         "temperature", "deep-json", "deep-schema", "body-too-large", "image-bomb", "image-over-cap"],
)
def test_client_mistakes_are_4xx_naming_the_field(
    server: str, body: object, status: int, param: str | None, message: str
) -> None:
    refused = _post(server, body)
    assert refused.status_code == status, refused.text
    error = refused.json()["error"]
    assert message in error["message"] and error["param"] == param
    assert _post(server, {"model": "mock", "messages": HI}).status_code == 200  # still serving


def test_a_truncated_image_is_the_requests_error_in_the_backend() -> None:
    """The server checks headers only; the backend decodes, and a broken image fails alone."""

    def decode(request: GenerationRequest) -> str | Generation:
        try:  # as every provider does: an unloadable image is this request's error generation
            return "x".join(str(image.load().size) for image in request.images)
        except ValueError as exc:
            return Generation(text="", finish_reason="error", error=f"image could not be loaded: {exc}")

    backend = MockBackend(handler=decode)
    with serving(backend, "mock") as url:
        broken = _post(url, _image(truncated_png()))
        assert broken.status_code == 400 and "truncated" in broken.json()["error"]["message"]
        assert _post(url, _image(png(8))).json()["choices"][0]["message"]["content"] == "(8, 8)"


def test_a_full_queue_answers_429_with_retry_after_and_a_deadline_answers_504() -> None:
    def slow(request: GenerationRequest) -> str:
        time.sleep(0.3)
        return "ok"

    backend = MockBackend(handler=slow, max_batch_size=1)
    with serving(backend, "mock", max_pending=2, request_timeout_s=1.0) as url:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: _post(url, {"model": "mock", "messages": HI}), range(8)))
        statuses = sorted(answer.status_code for answer in answers)
        assert 429 in statuses and set(statuses) <= {200, 429, 504}, statuses
        busy = next(answer for answer in answers if answer.status_code == 429)
        assert busy.headers["retry-after"] == "1" and busy.json()["error"]["type"] == "rate_limit_error"
        time.sleep(1.0)
        assert _post(url, {"model": "mock", "messages": HI}).status_code == 200  # recovered
    with serving(MockBackend(handler=slow, max_batch_size=1), "mock", request_timeout_s=0.1) as url:
        late = _post(url, {"model": "mock", "messages": HI})
        assert late.status_code == 504 and "deadline" in late.json()["error"]["message"]


def test_an_api_key_guards_every_route_but_health_and_is_never_shown() -> None:
    key = "sk-test-d0nt-leak"
    with serving(MockBackend(handler=lambda request: "42"), "mock", api_key=key) as url:
        assert _post(url, {"model": "mock", "messages": HI}).status_code == 401
        wrong = _post(url, {"model": "mock", "messages": HI}, Authorization="Bearer sk-wrong")
        assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
        assert httpx.get(url + "/models", timeout=10).status_code == 401
        assert httpx.get(url.removesuffix("/v1") + "/health", timeout=10).status_code == 200
        models = httpx.get(url + "/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert models.status_code == 200 and key not in models.text
        right = _post(url, {"model": "mock", "messages": HI}, Authorization=f"Bearer {key}")
        assert right.status_code == 200 and key not in right.text


def test_serve_refuses_a_public_bind_without_a_key(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKILLGAP_SERVE_API_KEY", raising=False)
    assert main(["serve", "--backend", "mock", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "refusing to serve on 0.0.0.0 without an API key" in capsys.readouterr().err
