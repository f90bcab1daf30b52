"""The root package's public API: exactly these names, all importable, and a light import."""

import json
import subprocess
import sys

import pytest

import skillgap

# Hard-coded on purpose: changing the public API must change this test too.
EXPECTED = {
    "Backend",
    "CardHand",
    "Composition",
    "Constraint",
    "Drawn",
    "EvalConfig",
    "Evaluation",
    "Expression",
    "Generation",
    "GenerationRequest",
    "GraphValidationError",
    "Image",
    "ImageRef",
    "Input",
    "Message",
    "MockBackend",
    "Number",
    "ObjectList",
    "ParseFailure",
    "Skill",
    "SkillGraph",
    "SkillInputError",
    "Task",
    "TextFormat",
    "__version__",
    "aevaluate",
    "cascaded",
    "cot",
    "direct",
    "evaluate",
    "get_skill",
    "list_skills",
    "load_backend",
    "register_task",
    "run_eval",
    "skill",
    "strategy",
    "task",
}

HEAVY = ("torch", "transformers", "outlines", "langgraph", "opentelemetry.exporter")


def test_all_is_the_sorted_public_names() -> None:
    assert skillgap.__all__ == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_public_name_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from skillgap import {name}", namespace)
    assert namespace[name] is getattr(skillgap, name)


def test_public_names_are_the_same_objects_as_in_subpackages() -> None:
    from skillgap.backends import ImageRef, MockBackend
    from skillgap.graphs import SkillGraph
    from skillgap.skills import Image, skill

    assert skillgap.MockBackend is MockBackend
    assert skillgap.SkillGraph is SkillGraph
    assert skillgap.skill is skill
    assert skillgap.Image is ImageRef is Image
    # Loaded on first use (see test_import_is_light), still the subpackages' own objects.
    from skillgap._evaluate import evaluate
    from skillgap.evals import EvalConfig, run_eval
    from skillgap.tasks import Task, task

    assert (skillgap.evaluate, skillgap.run_eval, skillgap.EvalConfig) == (evaluate, run_eval, EvalConfig)
    assert (skillgap.Task, skillgap.task) == (Task, task)


@pytest.mark.slow
def test_import_is_light() -> None:
    code = (
        "import json, sys, skillgap\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if any(m == h or m.startswith(h + '.') for h in heavy))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
