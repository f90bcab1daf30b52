"""The direct, cascaded and chain-of-thought strategies, end to end on the mock backend."""

import asyncio
from typing import Any

import pytest
from graph_helpers import CARDS, COUNTING, RENDERED_TEXT, SCRIPT, scripted
from PIL import Image as PILImage

from skillgap import Composition, Generation, GenerationRequest, MockBackend, strategy
from skillgap.graphs import STRATEGIES, CompiledGraph
from skillgap.skills import CardHand, Expression, Number, ObjectList

CASES = [
    pytest.param(RENDERED_TEXT, {}, Expression(text="3+4*2"), Number(value=11), id="rendered_text"),
    pytest.param(COUNTING, {"query": "red"}, ObjectList.parse("RC GS RT"), Number(value=2),
                 id="counting"),
    pytest.param(CARDS, {}, CardHand.parse("AH KS"), Number(value=21), id="cards"),
]


def _compile(name: str, composition: Composition) -> CompiledGraph:
    return strategy(name, composition).compile()


@pytest.mark.parametrize(("composition", "extra", "intermediate", "answer"), CASES)
def test_direct_answers_in_one_call(
    composition: Composition, extra: dict[str, Any], intermediate: Any, answer: Any,
    backend: MockBackend, image: PILImage.Image,
) -> None:
    result = _compile("direct", composition).run({"image": image, **extra}, backend)
    assert result.ok, result.error
    assert result.answer == answer
    assert isinstance(result.answer, Number)
    assert result.intermediate is None
    assert result.calls == 1
    assert len(backend.requests) == 1
    (request,) = backend.requests
    assert request.metadata["skill"] == f"{composition.name}.direct"
    assert len(request.images) == 1
    assert request.constraint is not None and request.constraint.pattern == Number.pattern


@pytest.mark.parametrize(("composition", "extra", "intermediate", "answer"), CASES)
def test_cascaded_runs_visual_then_textual(
    composition: Composition, extra: dict[str, Any], intermediate: Any, answer: Any,
    backend: MockBackend, image: PILImage.Image,
) -> None:
    result = _compile("cascaded", composition).run({"image": image, **extra}, backend)
    assert result.ok, result.error
    assert result.answer == answer
    assert result.intermediate == intermediate
    assert type(result.intermediate) is composition.visual.output
    assert result.calls == 2
    visual, textual = backend.requests
    assert visual.metadata["skill"] == composition.visual.name
    assert len(visual.images) == 1
    assert textual.metadata["skill"] == composition.textual.name
    assert textual.images == []
    assert f"{composition.bind.capitalize()}: {intermediate.render()}" in textual.messages[0].text
    assert result.nodes["visual"].raw == SCRIPT[composition.visual.name]
    assert result.nodes["textual"].called


@pytest.mark.parametrize(("composition", "extra", "intermediate", "answer"), CASES)
def test_cot_answers_in_one_call_with_reasoning(
    composition: Composition, extra: dict[str, Any], intermediate: Any, answer: Any,
    backend: MockBackend, image: PILImage.Image,
) -> None:
    result = _compile("cot", composition).run({"image": image, **extra}, backend)
    assert result.ok, result.error
    assert result.answer == answer
    assert result.intermediate == intermediate
    assert result.calls == 1
    assert result.answer_text() == answer.render()
    (request,) = backend.requests
    assert request.metadata["skill"] == f"{composition.name}.cot"
    assert request.constraint is not None
    assert request.constraint.pattern == composition.cot_skill().output.pattern


def test_cascaded_textual_prompt_for_counting_has_query_and_objects(
    backend: MockBackend, image: PILImage.Image
) -> None:
    _compile("cascaded", COUNTING).run({"image": image, "query": "circle"}, backend)
    textual = backend.requests[1]
    assert textual.messages[0].text == (
        "Count the circle objects in the list. Answer with a number.\nObjects: RC GS RT"
    )
    assert [type(part).__name__ for part in textual.messages[0].content] == ["TextPart"]


def test_unparseable_visual_output_skips_the_textual_node(image: PILImage.Image) -> None:
    backend = MockBackend(outputs=["three plus four"])
    result = _compile("cascaded", RENDERED_TEXT).run({"image": image}, backend)
    assert not result.ok
    assert result.parse_failure
    assert result.answer is None
    visual, textual = result.nodes["visual"], result.nodes["textual"]
    assert visual.parse_failure
    assert visual.raw == "three plus four"
    assert visual.error is not None and visual.error.startswith("unparseable output:")
    assert visual.called
    assert textual.skipped
    assert not textual.called
    assert textual.error is not None and "'visual'" in textual.error
    assert result.calls == 1
    assert len(backend.requests) == 1


def test_unparseable_direct_output_is_recorded(image: PILImage.Image) -> None:
    backend = MockBackend(outputs=["eleven"])
    result = _compile("direct", RENDERED_TEXT).run({"image": image}, backend)
    assert not result.ok
    assert result.parse_failure
    assert result.raw == "eleven"


def test_backend_exception_becomes_a_per_sample_error(image: PILImage.Image) -> None:
    def broken(request: GenerationRequest) -> str:
        raise RuntimeError("model exploded")

    result = _compile("cascaded", RENDERED_TEXT).run({"image": image}, MockBackend(handler=broken))
    assert not result.ok
    assert not result.parse_failure
    assert result.nodes["visual"].error == "backend error: RuntimeError: model exploded"
    assert result.nodes["textual"].skipped


def test_backend_exception_only_fails_its_own_samples(image: PILImage.Image) -> None:
    def flaky(request: GenerationRequest) -> str:
        if "blue" in request.messages[0].text:
            raise RuntimeError("no blue today")
        return SCRIPT[request.metadata["skill"]]

    compiled = _compile("direct", COUNTING)
    batch = [{"image": image, "query": query} for query in ("red", "blue", "green")]
    backend = MockBackend(handler=flaky, max_batch_size=1)
    results = asyncio.run(compiled.abatch(batch, backend))
    assert [result.ok for result in results] == [True, False, True]
    assert results[1].error == "backend error: RuntimeError: no blue today"


def test_model_error_generation_is_recorded(image: PILImage.Image) -> None:
    backend = MockBackend(
        handler=lambda request: Generation(text="", finish_reason="error", error="out of memory")
    )
    result = _compile("direct", CARDS).run({"image": image}, backend)
    assert result.error == "model error: out of memory"
    assert not result.parse_failure


def test_unconstrained_run_sends_no_constraint(backend: MockBackend, image: PILImage.Image) -> None:
    for name in STRATEGIES:
        _compile(name, COUNTING).run({"image": image, "query": "red"}, backend, constrained=False)
    assert len(backend.requests) == 4
    assert all(request.constraint is None for request in backend.requests)


def test_run_settings_and_metadata_reach_the_request(image: PILImage.Image) -> None:
    backend = MockBackend(handler=scripted)
    _compile("cascaded", CARDS).run(
        {"image": image}, backend, temperature=0.7, seed=3, metadata={"sample": "s1"}
    )
    for request, node in zip(backend.requests, ("visual", "textual"), strict=True):
        assert request.temperature == 0.7
        assert request.seed == 3
        assert request.metadata["sample"] == "s1"
        assert request.metadata["node"] == node
        assert request.metadata["graph"] == "cascaded"


def test_unknown_strategy_lists_choices() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'magic'; choose one of: direct, cascaded, cot"):
        strategy("magic", COUNTING)
