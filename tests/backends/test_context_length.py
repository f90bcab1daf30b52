"""Context limits (issue 13): a prompt plus max_tokens over the model's context is that request's
error, naming both numbers, before the forward pass — in-process (the batch's other requests still
run), as a 400 from ``skillgap serve``, and known to the openai backend through ``/v1/models``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from skillgap.backends import GenerationRequest, Message, OpenAIBackend, TextPart
from skillgap.backends._transformers import TransformersBackend
from skillgap.serve import serving


def _ask(text: str, max_tokens: int = 4) -> GenerationRequest:
    return GenerationRequest(messages=(Message(content=(TextPart(text=text),)),), max_tokens=max_tokens)


@pytest.fixture(scope="module")
def tiny(tiny_model_path: Path) -> Iterator[TransformersBackend]:
    backend = TransformersBackend(tiny_model_path, max_batch_size=8)
    yield backend
    backend.close()


@pytest.mark.slow
def test_over_long_prompts_fail_alone_naming_both_numbers(tiny: TransformersBackend) -> None:
    requests = [_ask("2+3="), _ask("2+3= " * 400), _ask("x" * 5_000_000), _ask("2+3=", max_tokens=600)]
    good, long, huge, greedy = asyncio.run(tiny.generate(requests))
    assert tiny.context_length == 512  # from the model's config
    assert good.error is None and good.output_tokens >= 1
    assert long.error is not None and "tokens) plus max_tokens (4) exceeds the model's context " \
        "length of 512 tokens" in long.error
    # Refused from its length alone: 5 MB of text is never tokenized.
    assert huge.error is not None and "(over 512 tokens) plus max_tokens (4)" in huge.error
    assert greedy.error is not None and "plus max_tokens (600) exceeds" in greedy.error


@pytest.mark.slow
def test_serve_answers_400_to_an_over_long_prompt_and_keeps_serving(tiny: TransformersBackend) -> None:
    with serving(tiny, "tiny") as url:
        cards = httpx.get(url + "/models", timeout=30).json()["data"]
        assert cards[0]["max_model_len"] == 512
        body = {"model": "tiny", "max_tokens": 8,
                "messages": [{"role": "user", "content": "7 " * 10_000_000}]}  # 20 MB of text
        refused = httpx.post(url + "/chat/completions", json=body, timeout=120)
        assert refused.status_code == 400, refused.text
        message = refused.json()["error"]["message"]
        assert "plus max_tokens (8) exceeds the model's context length of 512 tokens" in message
        fine = httpx.post(url + "/chat/completions", timeout=120, json={
            "model": "tiny", "max_tokens": 4, "messages": [{"role": "user", "content": "2+3="}]})
        assert fine.status_code == 200, fine.text

        client = OpenAIBackend.connect(url, max_retries=0)
        assert client.context_length == 512
        local, served = asyncio.run(client.generate([_ask("2+3=", max_tokens=512),
                                                     _ask("2+3= " * 400, max_tokens=4)]))
        assert local.error is not None and "max_tokens 512 leaves no room" in local.error
        assert served.error is not None and "HTTP 400" in served.error and "512 tokens" in served.error
