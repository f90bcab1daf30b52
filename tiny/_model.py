"""The embedded tiny MLLM: a standard LLaVA (tiny CLIP vision + tiny Llama) with a character tokenizer.

The builder writes an ordinary ``save_pretrained`` folder, so the tiny model loads through exactly
the same ``AutoProcessor`` / ``AutoModelForImageTextToText`` path as any real model. A trainer reuses
:func:`build_tiny_model` with the same defaults and then overwrites the weights.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

from ..backends._default_model import cache_dir

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>", "<image>")
# Printable ASCII (space to tilde) plus newline: every character is one token.
CHARACTERS = "".join(chr(code) for code in range(32, 127)) + "\n"
UNTRAINED_MODEL_NAME = "tiny-untrained-v2"
#: skillgap's own notes about a model folder (native layout, how it was made).
MODEL_CARD = "skillgap.json"

# The trained model ships here (a save_pretrained folder); backends find it by path.
SHIPPED_MODEL_DIR = Path(__file__).resolve().parent / "model"

# Parts render in order (text as text, images as <image>); assistant turns open with ">" (the
# generation prompt) and close with "</s>", so one template serves inference and training.
CHAT_TEMPLATE = (
    "{{ '<s>' }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{{ '>' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '</s>' }}"
    "{% elif message['role'] == 'system' %}{{ '\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '>' }}{% endif %}"
)

_BUILD_LOCK = threading.Lock()
_warned_untrained = False


def build_tiny_model(
    path: str | Path,
    *,
    seed: int = 0,
    dtype: str = "float32",
    image_size: int = 80,
    patch_size: int = 16,
    vision_hidden_size: int = 128,
    vision_layers: int = 3,
    vision_heads: int = 4,
    vision_intermediate_size: int = 512,
    text_hidden_size: int = 256,
    text_layers: int = 4,
    text_heads: int = 4,
    text_intermediate_size: int = 512,
    max_position_embeddings: int = 512,
) -> Path:
    """Build a randomly initialised tiny LLaVA model with its processor and save it to ``path``.

    Args:
        path: Folder to write (created if missing); existing files of the same names are replaced.
        seed: Seed of the random initialisation; the same seed gives the same weights.
        dtype: Weight dtype to save: ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        image_size: Side of the square input image in pixels (the processor resizes to it).
        patch_size: Side of a vision patch; ``(image_size // patch_size) ** 2`` image tokens.

    Returns:
        The folder, loadable offline with ``AutoProcessor`` and ``AutoModelForImageTextToText``.

    Example:
        >>> folder = build_tiny_model("/tmp/tiny")  # doctest: +SKIP
    """
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        CLIPVisionConfig,
        GenerationConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    if image_size % patch_size:
        raise ValueError(f"image_size {image_size} must be a multiple of patch_size {patch_size}")
    torch_dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in torch_dtype:
        raise ValueError(f"dtype must be one of {sorted(torch_dtype)}, got {dtype!r}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)

    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for character in CHARACTERS:
        vocab[character] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": "<image>"},
        model_max_length=max_position_embeddings,
        clean_up_tokenization_spaces=False,
    )
    image_processor = _image_processor(image_size)
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        image_token="<image>",
        num_additional_image_tokens=1,
    )

    ids = {token: vocab[token] for token in SPECIAL_TOKENS}
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=vision_hidden_size,
            intermediate_size=vision_intermediate_size,
            num_hidden_layers=vision_layers,
            num_attention_heads=vision_heads,
            image_size=image_size,
            patch_size=patch_size,
            projection_dim=vision_hidden_size,
        ),
        text_config=LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=text_hidden_size,
            intermediate_size=text_intermediate_size,
            num_hidden_layers=text_layers,
            num_attention_heads=text_heads,
            num_key_value_heads=text_heads,
            max_position_embeddings=max_position_embeddings,
            pad_token_id=ids["<pad>"],
            bos_token_id=ids["<s>"],
            eos_token_id=ids["</s>"],
            tie_word_embeddings=False,
        ),
        image_token_index=ids["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model: Any = LlavaForConditionalGeneration(config)
    model.to(torch_dtype[dtype])
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<s>"],
        eos_token_id=ids["</s>"],
        pad_token_id=ids["<pad>"],
        max_new_tokens=64,
        do_sample=False,
    )
    model.save_pretrained(path, safe_serialization=True)
    processor.save_pretrained(path)
    # What skillgap needs to know beyond transformers' files: the model's native input layout.
    card = {"layout": "grid", "image_size": image_size, "builder": __name__, "seed": seed}
    (path / MODEL_CARD).write_text(json.dumps(card, indent=2))
    return path


def _image_processor(image_size: int) -> Any:
    """A CLIP image processor that resizes to a square and maps white to 0 (black to -2)."""
    import transformers

    # transformers 5 without torchvision: name the PIL backend directly (no fallback warning); it
    # still saves as "CLIPImageProcessor", so the folder loads with or without torchvision.
    image_processor_class: Any = getattr(transformers, "CLIPImageProcessorPil", None)
    if image_processor_class is None:
        image_processor_class = transformers.CLIPImageProcessor
    return image_processor_class(
        do_resize=True,
        size={"height": image_size, "width": image_size},
        do_center_crop=False,
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[1.0, 1.0, 1.0],
        image_std=[0.5, 0.5, 0.5],
        do_convert_rgb=True,
    )


def default_model_path() -> Path:
    """The embedded model: the shipped trained folder, else an untrained one built once in the cache.

    The cache folder is ``$SKILLGAP_CACHE/models/tiny-untrained-v2`` (``SKILLGAP_CACHE`` defaults to
    ``~/.cache/skillgap``). Concurrent callers (threads or processes) never see a half-written
    folder: the model is built in a temporary folder and renamed into place.
    """
    if (SHIPPED_MODEL_DIR / "config.json").is_file():
        return SHIPPED_MODEL_DIR
    _warn_untrained()
    target = cache_dir() / "models" / UNTRAINED_MODEL_NAME
    if (target / "config.json").is_file():
        return target
    with _BUILD_LOCK:
        if (target / "config.json").is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{UNTRAINED_MODEL_NAME}-", dir=target.parent))
        try:
            build_tiny_model(staging, seed=0)
            try:
                staging.rename(target)
            except OSError:
                # Another process renamed its build into place first; use that one.
                if not (target / "config.json").is_file():
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def _warn_untrained() -> None:
    global _warned_untrained
    if not _warned_untrained:
        _warned_untrained = True
        warnings.warn(
            "the embedded skillgap model is untrained (random weights): its answers are noise "
            "until a trained model ships in skillgap/tiny/model/",
            stacklevel=3,
        )


__all__ = [
    "CHARACTERS",
    "CHAT_TEMPLATE",
    "SHIPPED_MODEL_DIR",
    "SPECIAL_TOKENS",
    "build_tiny_model",
    "cache_dir",
    "default_model_path",
]
