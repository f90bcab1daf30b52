"""Dynamic batching through the public mock backend, driven by concurrent graph runs."""

import asyncio

import pytest
from graph_helpers import COUNTING, RENDERED_TEXT, scripted
from PIL import Image as PILImage

from skillgap import Generation, GenerationRequest, MockBackend, direct
from skillgap.backends import BatchingBackend, Message, TextPart
from skillgap.skills import Number


def _request(tag: str, *, max_tokens: int = 8) -> GenerationRequest:
    return GenerationRequest(
        messages=(Message(content=(TextPart(text=f"say {tag}"),)),),
        max_tokens=max_tokens,
        metadata={"tag": tag},
    )


def test_abatch_coalesces_requests_up_to_max_batch_size(image: PILImage.Image) -> None:
    backend = MockBackend(handler=scripted, max_batch_size=8, batch_wait_s=0.01)
    compiled = direct(COUNTING).compile()
    queries = ["red", "green", "blue", "yellow", "circle"] * 4
    results = asyncio.run(compiled.abatch([{"image": image, "query": q} for q in queries], backend))
    assert len(results) == 20
    assert all(result.answer == Number(value=2) for result in results)
    assert sum(backend.batch_sizes) == 20
    assert max(backend.batch_sizes) <= 8
    assert max(backend.batch_sizes) > 1
    assert sorted({r.nodes["direct"].called for r in results}) == [True]


def test_abatch_keeps_sample_order(image: PILImage.Image) -> None:
    backend = MockBackend(
        handler=lambda request: request.messages[0].text.split()[2],  # "How many <query> ..."
        max_batch_size=3,
        batch_wait_s=0.005,
    )
    compiled = direct(COUNTING).compile()
    queries = ["red", "green", "blue", "yellow", "circle", "square", "triangle"]
    # The direct skill answers with a Number, so read the echoed query from the raw text.
    results = asyncio.run(compiled.abatch([{"image": image, "query": q} for q in queries], backend))
    assert [result.raw for result in results] == queries
    assert all(result.parse_failure for result in results)


def test_generate_returns_results_in_request_order() -> None:
    backend = MockBackend(handler=lambda request: request.metadata["tag"], max_batch_size=4)
    # Different max_tokens give different batch keys, so batches are taken out of arrival order.
    requests = [_request(str(i), max_tokens=8 + i % 3) for i in range(10)]
    generations = asyncio.run(backend.generate(requests))
    assert [generation.text for generation in generations] == [str(i) for i in range(10)]
    assert len(backend.batch_sizes) >= 3
    assert all(size <= 4 for size in backend.batch_sizes)
    assert all(g.batch_size in backend.batch_sizes for g in generations)


def test_scripted_outputs_are_used_in_call_order() -> None:
    backend = MockBackend(outputs=["first", "second"])
    generations = asyncio.run(backend.generate([_request("a"), _request("b")]))
    assert [g.text for g in generations] == ["first", "second"]
    with pytest.raises(RuntimeError, match="ran out of scripted outputs after 2 calls"):
        asyncio.run(backend.generate([_request("c")]))


def test_mock_backend_reuses_across_event_loops(image: PILImage.Image) -> None:
    backend = MockBackend(handler=scripted)
    compiled = direct(RENDERED_TEXT).compile()
    first = compiled.run({"image": image}, backend)
    second = compiled.run({"image": image}, backend)
    assert first.answer == second.answer == Number(value=11)
    assert len(backend.requests) == 2


class _Short(BatchingBackend):
    name = "short"

    def _generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [Generation(text="only one")]


def test_wrong_number_of_generations_raises() -> None:
    backend = _Short("short-model")
    with pytest.raises(RuntimeError, match="_Short returned 1 generations for 2 requests"):
        asyncio.run(backend.generate([_request("a"), _request("b")]))
    backend.close()


def test_wrong_number_of_generations_is_a_per_sample_error_in_a_graph(
    image: PILImage.Image,
) -> None:
    backend = _Short("short-model", max_batch_size=4, batch_wait_s=0.01)
    compiled = direct(RENDERED_TEXT).compile()
    results = asyncio.run(compiled.abatch([{"image": image}] * 3, backend))
    assert all(not result.ok for result in results)
    assert all("returned 1 generations for 3 requests" in (r.error or "") for r in results)
    backend.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_batch_size": 0}, "max_batch_size must be >= 1"),
        ({"batch_wait_s": -1.0}, "batch_wait_s must be >= 0"),
    ],
)
def test_batching_arguments_are_checked(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MockBackend(handler=scripted, **kwargs)  # type: ignore[arg-type]


def test_mock_backend_needs_exactly_one_script() -> None:
    with pytest.raises(ValueError, match="exactly one of `outputs` or `handler`"):
        MockBackend()
    with pytest.raises(ValueError, match="exactly one of `outputs` or `handler`"):
        MockBackend(outputs=["1"], handler=scripted)
