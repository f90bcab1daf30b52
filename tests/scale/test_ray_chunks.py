"""How the Ray driver talks to its replicas: requests go in chunks, and each request of a chunk gets
its own answer or its own error.

The replica's body is a plain class built through the backend registry, so the first test needs no
Ray; the second runs mock replicas on a local Ray (skipped without the ray extra).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from skillgap.backends import (
    Generation,
    GenerationRequest,
    ImagePart,
    ImageRef,
    Message,
    MockBackend,
    TextPart,
    register_backend,
)
from skillgap.backends._ray import Replica, init_ray


def _request(text: str, image: str | None = None) -> GenerationRequest:
    parts: tuple[TextPart | ImagePart, ...] = (TextPart(text=text),)
    if image is not None:
        parts += (ImagePart(image=ImageRef(uri=image)),)
    return GenerationRequest(messages=(Message(content=parts),))


def _answer_or_raise(request: GenerationRequest) -> str:
    text = request.messages[0].content[0]
    assert isinstance(text, TextPart)
    if text.text == "boom":
        raise RuntimeError("this request breaks the model")
    return text.text.upper()


@register_backend("test-raising", replace=True)
def _raising(model: str | None = None, **options: object) -> MockBackend:
    return MockBackend(handler=_answer_or_raise, model_id=model or "raising", max_batch_size=8)


def test_a_replica_answers_each_request_of_a_chunk_alone() -> None:
    replica = Replica("test-raising", None, {})
    requests = [_request(text) for text in ("a", "boom", "c")]
    answers = asyncio.run(replica.generate_each(requests))
    assert isinstance(answers[0], Generation) and answers[0].text == "A"
    assert isinstance(answers[1], RuntimeError)
    assert isinstance(answers[2], Generation) and answers[2].text == "C"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[object]:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (make setup installs it)")
    init_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_concurrent_requests_reach_the_replicas_in_chunks_each_answered_once(local_ray: object) -> None:
    from skillgap.backends import RayBackend

    backend = RayBackend("mock", options={"max_batch_size": 8}, replicas=2)

    async def together(requests: list[GenerationRequest]) -> list[Generation]:
        answered = await asyncio.gather(*(backend.generate([r]) for r in requests))
        return [one for (one,) in answered]

    try:
        assert backend.chunk_size == 8  # the replicas' batch size
        requests = [_request(f"q{i}") for i in range(40)]
        requests[7] = _request("bad image", "data:image/png;base64,bm90IGFuIGltYWdl")
        answers = asyncio.run(together(requests))
        status = backend.status()
        # Fewer requests than a chunk are shared between the idle replicas, not sent to one.
        few = asyncio.run(together([_request(f"f{i}") for i in range(6)]))
    finally:
        backend.close()
    assert {a.served_by for a in few} == {"ray-replica-0", "ray-replica-1"}
    assert len(answers) == 40
    assert answers[7].error is not None and "image could not be loaded" in answers[7].error
    assert all(a.error is None for i, a in enumerate(answers) if i != 7)
    assert {a.served_by for a in answers} == {"ray-replica-0", "ray-replica-1"}
    assert sum(s["served"] for s in status) == 40
    # 40 requests made together travel as a few full chunks, not one actor call each.
    assert sum(s["chunks"] for s in status) <= 8, status
