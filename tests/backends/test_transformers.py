"""The transformers backend on the real tiny LLaVA (random weights), end to end on CPU."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from skillgap.backends._transformers import TransformersBackend
from skillgap.backends._types import (
    Constraint,
    Generation,
    GenerationRequest,
    ImagePart,
    ImageRef,
    Message,
    TextPart,
)
from skillgap.tiny._model import build_tiny_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(tiny_model_path: Path) -> TransformersBackend:
    backend = TransformersBackend(tiny_model_path, batch_wait_s=0.0)
    backend.load()
    return backend


@pytest.fixture(scope="module")
def image() -> ImageRef:
    picture = Image.new("RGB", (80, 80), "white")
    for x in range(20, 40):
        for y in range(20, 40):
            picture.putpixel((x, y), (200, 0, 0))
    return ImageRef.from_pil(picture)


def request(text: str, *images: ImageRef, **options: object) -> GenerationRequest:
    parts = (TextPart(text=text), *(ImagePart(image=ref) for ref in images))
    return GenerationRequest(messages=(Message(content=parts),), **options)


def run(backend: TransformersBackend, requests: list[GenerationRequest]) -> list[Generation]:
    return asyncio.run(backend.generate(requests))


def test_folder_reloads_offline_through_auto_classes(tiny_model_path: Path) -> None:
    script = f"""
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor
processor = AutoProcessor.from_pretrained({str(tiny_model_path)!r})
model = AutoModelForImageTextToText.from_pretrained({str(tiny_model_path)!r}, use_safetensors=True)
messages = [{{"role": "user", "content": [
    {{"type": "text", "text": "ab"}}, {{"type": "image"}}, {{"type": "image"}}]}}]
prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
inputs = processor(text=[prompt], images=[Image.new("RGB", (80, 80), "white")] * 2,
                   return_tensors="pt", add_special_tokens=False)
ids = inputs["input_ids"][0].tolist()
print(type(model).__name__, sum(p.numel() for p in model.parameters()), prompt,
      ids.count(model.config.image_token_id), float(inputs["pixel_values"].abs().max()))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    name, parameters, prompt, image_tokens, pixel_max = done.stdout.split()
    assert name == "LlavaForConditionalGeneration"
    assert 2_000_000 < int(parameters) < 6_000_000
    assert prompt == "<s>ab<image><image>>"
    assert int(image_tokens) == 2 * 25
    assert float(pixel_max) == 0.0  # white maps to 0
    assert {path.suffix for path in tiny_model_path.iterdir()} >= {".safetensors", ".json"}
    assert not list(tiny_model_path.glob("*.bin"))


def test_chat_template_renders_parts_in_order_and_assistant_turns(backend: TransformersBackend):
    processor = backend._processor
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "RC GS"}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "y"}]},
    ]
    rendered = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == "<s>x<image>>RC GS</s><image>y>"
    tokens = processor.tokenizer("a b\n~", add_special_tokens=False)["input_ids"]
    assert len(tokens) == 5
    assert processor.tokenizer.decode(tokens) == "a b\n~"


def test_batched_greedy_output_equals_single_request(backend: TransformersBackend, image: ImageRef):
    requests = [
        request("count red", image, max_tokens=6),
        request("a much longer prompt than the others", image, max_tokens=6),
        request("7+2", image, max_tokens=6),
    ]
    batched = run(backend, requests)
    assert [g.batch_size for g in batched] == [3, 3, 3]
    for single_request, in_batch in zip(requests, batched, strict=True):
        (alone,) = run(backend, [single_request])
        assert alone.batch_size == 1
        assert alone.text == in_batch.text
        assert alone.output_tokens == in_batch.output_tokens
        assert alone.input_tokens == in_batch.input_tokens
        assert alone.logprob == pytest.approx(in_batch.logprob, abs=1e-3)


def test_generation_counts_logprob_and_finish_reason(backend: TransformersBackend, image: ImageRef):
    (generation,) = run(backend, [request("count red", image, max_tokens=5)])
    assert generation.input_tokens == 1 + len("count red") + 25 + 1
    assert 1 <= generation.output_tokens <= 5
    assert generation.logprob is not None
    assert math.isfinite(generation.logprob) and generation.logprob < 0
    if generation.finish_reason == "length":
        assert generation.output_tokens == 5
    else:
        assert generation.finish_reason == "stop"
    assert "<image>" not in generation.text


def test_text_only_request(backend: TransformersBackend):
    (generation,) = run(backend, [request("2+3", max_tokens=4)])
    assert generation.error is None
    assert generation.input_tokens == 1 + 3 + 1
    assert generation.output_tokens >= 1


@pytest.mark.parametrize(
    ("pattern", "max_tokens"),
    [("[0-9]{1,2}", 3), ("[RGB][CST]( [RGB][CST]){0,3}", 12), ("(yes|no)", 4)],
)
def test_regex_constraint_always_matches(
    backend: TransformersBackend, image: ImageRef, pattern: str, max_tokens: int
):
    constraint = Constraint(kind="regex", pattern=pattern)
    greedy = [request("q" * n, image, constraint=constraint, max_tokens=max_tokens) for n in (1, 7)]
    # High-temperature sampling makes rows stop at different steps (padding after EOS).
    sampled = [
        request("q", image, constraint=constraint, max_tokens=max_tokens, temperature=3.0, seed=s)
        for s in range(3)
    ]
    generations = run(backend, greedy + sampled + sampled[:1])
    for generation in generations:
        assert generation.finish_reason == "stop", generation
        assert re.fullmatch(pattern, generation.text), generation.text
        assert generation.logprob is not None and math.isfinite(generation.logprob)
        assert generation.logprob < 0


def test_regex_constraint_in_one_batch_with_uneven_lengths(backend: TransformersBackend):
    constraint = Constraint(kind="regex", pattern="[0-9]{1,6}")
    requests = [
        request(f"n{seed}", constraint=constraint, max_tokens=7, temperature=5.0, seed=1)
        for seed in range(8)
    ]
    generations = run(backend, requests)
    assert {g.batch_size for g in generations} == {8}
    assert len({g.output_tokens for g in generations}) > 1  # rows really stopped apart
    for generation in generations:
        assert generation.finish_reason == "stop"
        assert re.fullmatch("[0-9]{1,6}", generation.text), generation.text
        assert generation.output_tokens == len(generation.text) + 1  # characters + EOS


def test_json_schema_constraint_parses_and_validates(backend: TransformersBackend, image: ImageRef):
    schema = {
        "type": "object",
        "properties": {
            "count": {"type": "string", "pattern": "^[0-9]$"},
            "colour": {"type": "string", "enum": ["red", "green", "blue"]},
            "ok": {"type": "boolean"},
        },
        "required": ["count", "colour", "ok"],
        "additionalProperties": False,
    }
    constraint = Constraint(kind="json_schema", schema=schema)
    requests = [
        request("json", image, constraint=constraint, max_tokens=80),
        request("json", image, constraint=constraint, max_tokens=80, temperature=2.0, seed=3),
    ]
    for generation in run(backend, requests):
        assert generation.finish_reason == "stop", generation
        value = json.loads(generation.text)
        jsonschema.validate(value, schema)


def test_unconstrained_backend_ignores_constraints(tiny_model_path: Path):
    backend = TransformersBackend(tiny_model_path, constrained=False, batch_wait_s=0.0)
    constraint = Constraint(kind="regex", pattern="[0-9]")
    (constrained,) = run(backend, [request("x", constraint=constraint, max_tokens=3)])
    (free,) = run(backend, [request("x", max_tokens=3)])
    assert constrained.text == free.text


def test_seeded_sampling_is_reproducible(backend: TransformersBackend, image: ImageRef):
    def sample(seed: int) -> str:
        (generation,) = run(
            backend, [request("hi", image, max_tokens=8, temperature=2.0, seed=seed)]
        )
        return generation.text

    first = sample(11)
    assert sample(11) == first
    assert len({first, sample(12), sample(13)}) > 1


def test_corrupt_image_fails_only_its_own_request(backend: TransformersBackend, image: ImageRef):
    corrupt = ImageRef.from_bytes(b"this is not a png")
    missing = ImageRef.from_path("/nonexistent/picture.png")
    generations = run(
        backend,
        [
            request("a", image, max_tokens=3),
            request("b", corrupt, max_tokens=3),
            request("c", missing, max_tokens=3),
        ],
    )
    good, bad, absent = generations
    assert good.error is None and good.finish_reason in ("stop", "length")
    assert bad.finish_reason == "error" and bad.text == ""
    assert bad.error is not None and "image could not be loaded" in bad.error
    assert absent.finish_reason == "error"
    assert absent.error is not None and "not found" in absent.error


def test_missing_or_invalid_model_folder_raises_value_error(tmp_path: Path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ValueError, match="no-such-model"):
        TransformersBackend(missing)
    with pytest.raises(ValueError, match=r"no config\.json"):
        TransformersBackend(tmp_path)
    with pytest.raises(ValueError, match="dtype"):
        TransformersBackend(tmp_path, dtype="float8")


def test_describe_names_model_device_and_dtype(backend: TransformersBackend, tiny_model_path: Path):
    described = backend.describe()
    assert described["backend"] == "transformers"
    assert described["model"] == str(tiny_model_path.resolve())
    assert described["device"] in ("cpu", "cuda")
    assert described["dtype"] == ("float32" if described["device"] == "cpu" else "bfloat16")
    assert described["revision"] is None
    assert described["weights_digest"].startswith("sha256:")  # a local folder: its weights' digest
    assert described["local_files_only"] is True


def test_a_local_folder_with_other_weights_gets_another_revision(tmp_path: Path, tiny_model_path: Path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_path, copy)
    same = TransformersBackend(copy).describe()["weights_digest"]
    assert same == TransformersBackend(tiny_model_path).describe()["weights_digest"]
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    weights.write_bytes(bytes(data))
    assert TransformersBackend(copy).describe()["weights_digest"] != same


def test_default_model_path_builds_untrained_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skillgap.tiny import _model as _tiny

    monkeypatch.setenv("SKILLGAP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_tiny, "SHIPPED_MODEL_DIR", tmp_path / "not-shipped")
    monkeypatch.setattr(_tiny, "_warned_untrained", False)
    with pytest.warns(UserWarning, match="untrained"):
        path = _tiny.default_model_path()
    assert path == tmp_path / "cache" / "models" / "tiny-untrained-v2"
    assert (path / "config.json").is_file()
    assert [p.name for p in path.parent.iterdir()] == ["tiny-untrained-v2"]  # no staging left
    built = (path / "model.safetensors").stat().st_mtime_ns
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per process
        assert _tiny.default_model_path() == path
    assert (path / "model.safetensors").stat().st_mtime_ns == built


def test_default_model_path_prefers_shipped_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skillgap.tiny import _model as _tiny

    shipped = tmp_path / "tiny_model"
    shipped.mkdir()
    (shipped / "config.json").write_text("{}")
    monkeypatch.setattr(_tiny, "SHIPPED_MODEL_DIR", shipped)
    monkeypatch.setenv("SKILLGAP_CACHE", str(tmp_path / "cache"))
    assert _tiny.default_model_path() == shipped
    assert not (tmp_path / "cache").exists()


def test_build_is_deterministic_in_seed(tmp_path: Path) -> None:
    first = build_tiny_model(tmp_path / "first", seed=0)
    again = build_tiny_model(tmp_path / "again", seed=0)
    other = build_tiny_model(tmp_path / "other", seed=1)
    weights = (first / "model.safetensors").read_bytes()
    assert (again / "model.safetensors").read_bytes() == weights
    assert (other / "model.safetensors").read_bytes() != weights


@pytest.mark.parametrize(
    ("skill_name", "accepted", "refused"),
    [
        ("read_expression", ["6+3+5", "12+3-4", "6+3"], ["6+", "+3"]),
        ("list_objects", ["RC BS GT", "RC", "RC BS GT YC RS"], ["RC ", "RX"]),
        ("read_cards", ["7H KS", "7H KS 2C"], ["7H ", "7X"]),
        ("score_blackjack", ["12", "-3", "1234", "7"], ["", "-"]),
    ],
)
def test_constraints_accept_every_full_match_not_only_the_shortest(
    backend: TransformersBackend, skill_name: str, accepted: list[str], refused: list[str]
) -> None:
    """outlines-core's index, unanchored, ends at the first full match ("6+3" of "6+3+5")."""
    from outlines_core import Guide

    from skillgap.backends._transformers import regex_index
    from skillgap.skills import get_skill

    backend.load()
    pattern = get_skill(skill_name).constraint().pattern
    assert pattern is not None
    index = regex_index(pattern, backend._outlines_vocabulary())
    tokenizer = backend._processor.tokenizer

    def complete(text: str) -> bool:
        guide = Guide(index)
        try:
            for character in text:
                guide.advance(tokenizer.convert_tokens_to_ids(character))
        except ValueError:
            return False
        return tokenizer.eos_token_id in guide.get_tokens()

    assert all(complete(text) for text in accepted), accepted
    assert not any(complete(text) for text in refused), refused
