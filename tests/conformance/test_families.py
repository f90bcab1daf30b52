"""Every family × check through the transformers backend, on tiny random-weight models.

Random weights say nothing about accuracy; they exercise what breaks on real families: prompt
rendering, image tokens, per-prompt images in batches, left padding, constrained decoding with the
family's tokenizer, token budgets, bf16, and the three strategies end to end.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

import jsonschema
import pytest
from family_models import FamilyModels, family_params
from PIL import Image, ImageDraw

from skillgap.backends import (
    Constraint,
    Generation,
    GenerationRequest,
    ImagePart,
    ImageRef,
    Message,
    TextPart,
)
from skillgap.skills import ParseFailure, Skill

pytestmark = pytest.mark.slow

FAMILIES = family_params()
TASKS = ("rendered_text", "counting", "cards")


def picture(width: int, height: int, colour: str) -> ImageRef:
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, width // 2, height // 2), fill=colour)
    return ImageRef.from_pil(image)


IMAGES = [picture(64, 48, "red"), picture(40, 40, "blue"), picture(100, 60, "green"),
          picture(30, 50, "black")]


def request(text: str, *images: ImageRef, **options: Any) -> GenerationRequest:
    parts = (TextPart(text=text), *(ImagePart(image=image) for image in images))
    return GenerationRequest(messages=(Message(content=parts),), **options)


def run(backend: Any, requests: list[GenerationRequest]) -> list[Generation]:
    return asyncio.run(backend.generate(requests))


def task_skills() -> list[tuple[Skill, dict[str, Any]]]:
    """Each task's visual and textual skill and its CoT skill, with inputs from a free-layout
    sample of the task."""
    from skillgap.tasks import generate, get_task

    cases: list[tuple[Skill, dict[str, Any]]] = []
    for name in TASKS:
        composition = get_task(name).composition
        (sample,) = generate(name, 1, seed=3, layout="free")
        image_input = composition.visual.image_inputs[0]
        visual_inputs = {image_input: sample.image}
        assert sample.intermediate is not None
        textual_inputs = {composition.bind: sample.intermediate, **sample.inputs}
        cases += [(composition.visual, visual_inputs), (composition.textual, textual_inputs),
                  (composition.cot_skill(), {**visual_inputs, **sample.inputs})]
    return cases


@pytest.mark.parametrize("family", FAMILIES)
def test_single_request_renders_image_tokens(families: FamilyModels, family: str):
    backend = families.backend(family)
    processor = backend._processor
    (generation,) = run(backend, [request("Describe this image.", IMAGES[0], max_tokens=6)])
    assert generation.error is None, generation.error
    assert 1 <= generation.output_tokens <= 6
    prompt = backend._render(request("Describe this image.", IMAGES[0]))
    inputs = processor(text=[prompt], images=[[IMAGES[0].load()]], return_tensors="pt",
                       add_special_tokens=False)
    # What the model fills with image features (Molmo2 expands its placeholder to patch tokens).
    image_token_id = backend._model.config.image_token_id
    assert image_token_id is not None
    assert int((inputs["input_ids"] == image_token_id).sum()) >= 1
    assert processor.chat_template
    assert generation.input_tokens == int(inputs["attention_mask"].sum())


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("case", ["free", "regex", "text-only"])
def test_batch_of_four_equals_four_single_requests(families: FamilyModels, family: str, case: str):
    backend = families.backend(family)
    prompts = ["Read it.", "What is the result of the problem in the image? Be brief.",
               "How many red objects are in the image?", "Name the cards in the image. " * 3]
    objects = Constraint(kind="regex", pattern=r"[RGBY][CST]( [RGBY][CST]){0,3}")
    constraint = None if case == "free" else objects
    if case == "text-only":
        requests = [request(text, max_tokens=8, constraint=constraint) for text in prompts]
    else:
        requests = [request(text, image, max_tokens=8, constraint=constraint)
                    for text, image in zip(prompts, IMAGES, strict=True)]
    batched = run(backend, requests)
    assert [g.batch_size for g in batched] == [4] * 4
    for one, in_batch in zip(requests, batched, strict=True):
        (alone,) = run(backend, [one])
        assert alone.error is None and in_batch.error is None, (alone.error, in_batch.error)
        assert alone.batch_size == 1
        assert (alone.text, alone.output_tokens, alone.input_tokens) == (
            in_batch.text, in_batch.output_tokens, in_batch.input_tokens)
        assert alone.logprob == pytest.approx(in_batch.logprob, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_skill_and_cot_constraint_is_followed_to_a_full_match(families: FamilyModels, family: str):
    _, calls = strategy_runs(families, family)
    skills = {skill.name: skill for skill, _ in task_skills()}
    checked = set()
    for request, generation in calls:
        skill = skills.get(request.metadata["skill"])
        if skill is None:
            continue  # a direct strategy's skill: the strategies test checks its answer
        checked.add(skill.name)
        assert request.constraint is not None and request.constraint.pattern is not None
        assert generation.error is None, (skill.name, generation.error)
        # The budget follows the constraint: the output ended by choice (EOS), never cut short.
        assert generation.finish_reason == "stop", (skill.name, generation.text, request.max_tokens)
        assert re.fullmatch(request.constraint.pattern, generation.text), (skill.name, generation.text)
        assert not isinstance(skill.parse(generation.text), ParseFailure), (skill.name, generation.text)
    # Cascades ran every visual and textual skill, the CoT strategy every CoT skill.
    assert checked == set(skills)


@pytest.mark.parametrize("family", FAMILIES)
def test_json_schema_constraint(families: FamilyModels, family: str):
    backend = families.backend(family)
    schema = {
        "type": "object",
        "properties": {
            "colour": {"enum": ["red", "green", "blue"]},
            "count": {"type": "string", "pattern": "[0-9]{1,2}"},
            "objects": {"type": "array", "items": {"enum": ["RC", "GS", "BT"]},
                        "minItems": 1, "maxItems": 3},
        },
        "required": ["colour", "count", "objects"],
        "additionalProperties": False,
    }
    constraint = Constraint(kind="json_schema", schema=schema)
    requests = [request("Describe the objects as JSON.", image, constraint=constraint, max_tokens=8)
                for image in IMAGES[:2]]
    for generation in run(backend, requests):
        assert generation.error is None and generation.finish_reason == "stop", generation
        jsonschema.validate(json.loads(generation.text), schema)


class Recorder:
    """A backend that passes requests on to another and keeps each request with its generation."""

    name = "recorder"

    def __init__(self, backend: Any):
        self.backend, self.model_id = backend, backend.model_id
        self.calls: list[tuple[GenerationRequest, Generation]] = []

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        generations = await self.backend.generate(requests)
        self.calls += zip(requests, generations, strict=True)
        return generations

    def describe(self) -> dict[str, Any]:
        return self.backend.describe()


_RUNS: dict[str, tuple[list[Any], list[tuple[GenerationRequest, Generation]]]] = {}


def strategy_runs(families: FamilyModels, family: str) -> tuple[list[Any], list[Any]]:
    """The three strategies on one free-layout sample of each task, run once per family (the
    strategies test checks the answers, the constraint test every generation), and its calls."""
    from skillgap.graphs.strategies import get_strategy
    from skillgap.tasks import generate, get_task

    if family not in _RUNS:
        recorder = Recorder(families.backend(family))

        async def all_runs() -> list[Any]:
            runs = []
            for task in TASKS:
                composition = get_task(task).composition
                (sample,) = generate(task, 1, seed=3, layout="free")
                for strategy in ("direct", "cascaded", "cot"):
                    graph = get_strategy(strategy).build(composition).compile()
                    runs.append(graph.arun({"image": sample.image, **sample.inputs}, recorder))
            return await asyncio.gather(*runs)

        _RUNS[family] = (asyncio.run(all_runs()), recorder.calls)
    return _RUNS[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_three_strategies_on_three_tasks_in_the_free_layout(families: FamilyModels, family: str):
    results, _ = strategy_runs(families, family)
    assert len(results) == len(TASKS) * 3
    for result in results:
        failed = {name: node.error or node.raw for name, node in result.nodes.items()
                  if not node.ok or node.parse_failure}
        assert failed == {}, (result.graph, failed)
        assert result.answer is not None


@pytest.mark.parametrize("family", FAMILIES)
def test_bf16(families: FamilyModels, family: str):
    import torch

    from skillgap.backends._transformers import TransformersBackend

    backend = TransformersBackend(families.folder(family), dtype="bf16", batch_wait_s=0.0)
    try:
        backend.load()
        assert next(backend._model.parameters()).dtype == torch.bfloat16
        skill, inputs = task_skills()[0]
        generations = run(backend, [skill.request(inputs), request("Read it.", IMAGES[2], max_tokens=4)])
        for generation in generations:
            assert generation.error is None, generation.error
        assert not isinstance(skill.parse(generations[0].text), ParseFailure)
    finally:
        backend.close()
