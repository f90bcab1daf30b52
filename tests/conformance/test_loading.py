"""Loading real families: without torchvision, with a missing optional package, from the hub cache;
token bytes and budgets for constrained decoding; GPU-facing options."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from family_models import VISION_RUN, FamilyModels, torchvision_required

pytestmark = pytest.mark.slow


def test_video_processors_are_left_out_without_torchvision(families: FamilyModels):
    from transformers import AutoProcessor

    from skillgap.backends._families import load_processor, torchvision_available

    if torchvision_available():
        pytest.skip("torchvision is installed: processors load with their video part")
    folder = families.folder("qwen2_5_vl")
    # What users hit before: the stock loader insists on the torchvision-only video processor.
    with pytest.raises((OSError, ImportError, ValueError, AttributeError)):
        AutoProcessor.from_pretrained(folder, local_files_only=True)
    processor = load_processor(str(folder), local_files_only=True)
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert processor.chat_template  # saved settings still reach the narrowed class
    with pytest.raises(ImportError, match="torchvision"):
        processor.video_processor()


def test_a_torchvision_only_family_fails_naming_torchvision_and_its_extra(families: FamilyModels):
    from skillgap.backends._families import MissingPackageError, torchvision_available
    from skillgap.backends._transformers import TransformersBackend

    if torchvision_available():
        pytest.skip("torchvision is installed: Molmo2 loads (the vision run checks it)")
    # Built here as a download has it: Molmo2ImageProcessor's settings as JSON, no torchvision.
    backend = TransformersBackend(families.folder("molmo2"))
    with pytest.raises(MissingPackageError) as failure:
        backend.load()
    assert "'torchvision'" in str(failure.value) and "skillgap[vision]" in str(failure.value)


@pytest.mark.vision
@pytest.mark.parametrize("family", VISION_RUN)
def test_with_torchvision_processors_load_as_users_have_them(families: FamilyModels, family: str):
    from skillgap.backends._families import NoVideoProcessor, takes_video, torchvision_available

    if not torchvision_available():
        if torchvision_required():
            pytest.fail("SKILLGAP_REQUIRE_TORCHVISION=1 but torchvision is not importable here")
        pytest.skip("no torchvision here: `make conformance-vision` runs this")
    processor = families.backend(family)._processor
    assert processor.image_processor.backend == "torchvision"
    if takes_video(type(processor)):
        assert not isinstance(processor.video_processor, NoVideoProcessor)
        assert type(processor.video_processor).__name__.endswith("VideoProcessor")


def test_missing_optional_package_is_named_with_its_extra(
    families: FamilyModels, monkeypatch: pytest.MonkeyPatch
):
    import importlib.util

    from skillgap.backends._families import MissingPackageError, load_processor

    folder = families.folder("smolvlm")
    find_spec = importlib.util.find_spec
    # As on an install without the extra: num2words cannot be found.
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "num2words" else find_spec(name, *args))
    with pytest.raises(MissingPackageError) as failure:
        load_processor(str(folder), local_files_only=True)
    assert "'num2words'" in str(failure.value) and "skillgap[models]" in str(failure.value)


def test_hub_ids_resolve_from_the_cache_and_uncached_ones_fail_at_once(
    families: FamilyModels, tmp_path: Path
):
    cache = tmp_path / "hub"
    snapshot = cache / "models--conformance--tiny-llava" / "snapshots" / ("0" * 40)
    shutil.copytree(families.folder("llava"), snapshot)
    (cache / "models--conformance--tiny-llava" / "refs").mkdir()
    (cache / "models--conformance--tiny-llava" / "refs" / "main").write_text("0" * 40)
    script = """
import time
from skillgap.backends._transformers import TransformersBackend
backend = TransformersBackend("conformance/tiny-llava", device="cpu")
print("resolved", backend.model_id, backend.source.endswith("0" * 40))
started = time.perf_counter()
try:
    TransformersBackend("no-such-org/no-such-model-xyz", device="cpu")
except ValueError as exc:
    print("failed", round(time.perf_counter() - started, 1), exc)
"""
    env = {key: value for key, value in os.environ.items()
           if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update({"HF_HUB_CACHE": str(cache), "OMP_NUM_THREADS": "1"})
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "resolved conformance/tiny-llava True"
    assert lines[1].startswith("failed ")
    assert "not in the local Hugging Face cache" in lines[1] and "no-such-org/no-such-model-xyz" in lines[1]
    assert float(lines[1].split()[1]) < 5  # no retries against the closed network
    assert time.perf_counter() - started < 120


def test_token_bytes_of_a_sentencepiece_tokenizer(families: FamilyModels):
    from skillgap.backends._constrained import check_token_bytes, token_bytes

    tokenizer = families.backend("gemma3")._processor.tokenizer
    table = token_bytes(tokenizer, range(len(tokenizer)))
    check_token_bytes(tokenizer, table)
    space = tokenizer.convert_tokens_to_ids("▁")
    assert table[space] == b" "  # outlines' own conversion gives "  "
    assert table[tokenizer.convert_tokens_to_ids("<0x0A>")] == b"\n"
    for token_id, data in table.items():
        text = tokenizer.decode([token_id])
        if len(text) == 1 and text.isprintable() and text != "\ufffd":  # not a lone UTF-8 byte
            assert data == text.encode(), (tokenizer.convert_ids_to_tokens(token_id), data)


@pytest.mark.parametrize("family", ["llava", "gemma3"])
def test_budget_follows_the_constraint_not_the_skill(families: FamilyModels, family: str):
    from skillgap.backends import GenerationRequest, Message, TextPart
    from skillgap.skills import get_skill

    backend = families.backend(family)
    skill = get_skill("read_expression")
    longest = len("123+456+789+123+456+789")  # what Expression's pattern admits at most
    request = GenerationRequest(messages=(Message(content=(TextPart(text="x"),)),),
                                constraint=skill.constraint(), max_tokens=skill.max_tokens)
    assert skill.max_tokens < longest
    # Every ASCII character is a token of its own in both tokenizers: the worst case is one token
    # per character, plus EOS.
    assert backend._token_budget(request) == longest + 1
    free = request.model_copy(update={"constraint": None})
    assert backend._token_budget(free) == skill.max_tokens


def test_requests_are_grouped_by_image_size(families: FamilyModels):
    from PIL import Image

    from skillgap.backends import GenerationRequest, ImagePart, ImageRef, Message, TextPart
    from skillgap.backends._transformers import TransformersBackend

    def request(width: int, height: int) -> GenerationRequest:
        image = ImageRef.from_pil(Image.new("RGB", (width, height), "white"))
        return GenerationRequest(messages=(Message(content=(TextPart(text="x"), ImagePart(image=image))),))

    backend = TransformersBackend(families.folder("llava"))
    try:
        assert backend.batch_key(request(40, 40)) == backend.batch_key(request(42, 40))
        assert backend.batch_key(request(40, 40)) != backend.batch_key(request(400, 400))
    finally:
        backend.close()


def test_min_max_pixels_bound_qwen_images_and_are_refused_elsewhere(families: FamilyModels):
    from PIL import Image

    from skillgap.backends._families import image_size_options

    qwen = families.backend("qwen2_5_vl")._processor
    image = Image.new("RGB", (200, 120), "white")
    default = qwen(text=["<|image_pad|>"], images=[[image]], return_tensors="pt")
    small = qwen(text=["<|image_pad|>"], images=[[image]], return_tensors="pt",
                 **image_size_options(qwen, None, 28 * 28 * 2))
    assert small["image_grid_thw"].prod() < default["image_grid_thw"].prod()
    with pytest.raises(ValueError, match="fixed size"):
        image_size_options(families.backend("llava")._processor, None, 1000)
