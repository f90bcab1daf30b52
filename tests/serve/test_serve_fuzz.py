"""Fuzzing ``skillgap serve`` (issue 13): schemathesis drives a live server from the OpenAPI schema
it publishes, and hypothesis throws arbitrary JSON at the request decoder; no input is a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import LiveServer, live_serve

from skillgap.backends._wire import WireError, decode_request, loads
from skillgap.serve._openapi import openapi_schema

KEY = "sk-fuzz-k3y-never-logged"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_serve("--backend", "mock", "--served-model-name", "mock", api_key=KEY) as live:
        yield live
    assert KEY not in "".join(live.output)  # never in the server's logs


# The schema the server publishes for a model named "mock" (checked equal to the live one below);
# loaded at import, as schemathesis parametrizes at collection.
schema = schemathesis.openapi.from_dict(openapi_schema("mock"))


def test_the_server_publishes_its_schema(server: LiveServer) -> None:
    root = server.url.removesuffix("/v1")
    published = httpx.get(root + "/openapi.json", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert published.status_code == 200 and published.json() == openapi_schema("mock")


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_published_api_holds_under_schemathesis(case: Any, server: LiveServer) -> None:
    # Every check but "schema-valid data is accepted": OpenAPI cannot say "a regex that compiles",
    # "a valid JSON schema" or "at most one constraint", and those are refused with a 400.
    case.call_and_validate(base_url=server.url.removesuffix("/v1"),
                           headers={"Authorization": f"Bearer {KEY}"},
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
FIELDS = st.fixed_dictionaries({"model": st.just("m") | JSON, "messages": st.just(
    [{"role": "user", "content": "hi"}]) | JSON}, optional={
    name: JSON for name in ("max_tokens", "temperature", "seed", "logprobs", "n", "stream",
                            "response_format", "structured_outputs", "guided_regex", "guided_json",
                            "guided_choice", "regex", "max_completion_tokens")})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(FIELDS | JSON)
def test_any_json_is_a_request_or_a_wire_error(payload: Any) -> None:
    try:
        request, _ = decode_request(payload, "m")
    except WireError as exc:
        assert 400 <= exc.status < 500 and exc.message
    else:
        assert request.messages and request.max_tokens >= 1


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=200) | st.text(alphabet="[]{}\":,0a\\", max_size=300).map(str.encode))
def test_any_body_bytes_parse_or_are_a_400(body: bytes) -> None:
    try:
        loads(body, max_depth=8)
    except WireError as exc:
        assert exc.status == 400
