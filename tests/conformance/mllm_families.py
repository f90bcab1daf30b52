"""Tiny random-weight models of real MLLM families, built offline with their real classes.

Each builder writes a ``save_pretrained`` folder that loads through ``AutoProcessor`` and
``AutoModelForImageTextToText`` with no network: the family's config, model, image-processor and
processor classes, a tokenizer trained here with ``tokenizers`` (byte-level BPE, or SentencePiece
style ``▁`` + byte fallback for the Gemma families) holding every special token the processor needs,
and a chat template in the family's style. Weights are random (seeded): the suite checks plumbing
(prompts, image tokens, batching, constraints, budgets), not accuracy.

Run as a script to build one family into a folder: ``python mllm_families.py gemma3 /tmp/gemma3``.
"""

from __future__ import annotations

import json
import string
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Text the tokenizers are trained on: prompt words, formats and answer lines of every skill.
_CORPUS_WORDS = (
    "Read the arithmetic expression in the image. Write the expression, e.g. 3+4-2. "
    "Compute the value of the expression. Answer with a number. Expression: 12+7*3 "
    "List the objects in the image. List each object as colour+shape letters, e.g. RC BS GT. "
    "Count the red green blue yellow circle square triangle objects in the list. Objects: RC GS "
    "Name the cards in the image. Name each card as rank+suit, e.g. 7H KS (T = ten). "
    "Give the blackjack value of the hand. Hand: AH TC 9D QS KC JH "
    "What is the result of the problem in the image? How many red objects are in the image? "
    "What is the blackjack value of this hand? First read then compute. On the last line: "
    "'Answer:' and the answer. Answer: 42 {\"value\": 7, \"name\": \"x\"} "
    "You are a helpful assistant. user assistant model system Describe this image."
)

#: Seconds of CPU one build may take is small; sizes keep every model to a few 100k parameters.
TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16}
VISION_HIDDEN = 32


def _corpus() -> list[str]:
    lines = [_CORPUS_WORDS]
    lines += [string.printable, "0123456789 " * 4, "+-*/" * 8, " ".join(string.ascii_uppercase)]
    lines += [f"{a}+{b}-{a * b} {a}{b}" for a in range(30) for b in range(0, 30, 7)]
    return lines


def byte_level_tokenizer(specials: list[str], *, vocab_size: int = 700) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` (GPT-2/Llama 3/Qwen style); specials first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer)
    return tokenizer


def sentencepiece_tokenizer(specials: list[str], *, vocab_size: int = 700) -> Any:
    """A SentencePiece-style BPE (Gemma): spaces become ``▁``, unknown bytes fall back to
    ``<0xNN>`` tokens, and the decoder turns both back into text."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    # Train on ▁-marked text, split before each ▁ as SentencePiece effectively does.
    probe = Tokenizer(models.BPE())
    probe.normalizer = normalizers.Replace(" ", "▁")
    probe.pre_tokenizer = pre_tokenizers.Split(Regex("▁"), behavior="merged_with_next")
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    alphabet = sorted(set("".join(_corpus()).replace(" ", "▁")) - {"\n", "\t", "\r", "\x0b", "\x0c"})
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size + 256,
        special_tokens=[*specials, *byte_tokens],
        initial_alphabet=alphabet,
        limit_alphabet=len(alphabet),
        show_progress=False,
    )
    probe.train_from_iterator(_corpus(), trainer)
    data = json.loads(probe.to_str())
    model = data["model"]
    vocab, merges = model["vocab"], [tuple(m) if isinstance(m, list) else tuple(m.split(" "))
                                     for m in model["merges"]]
    bpe = models.BPE(vocab=vocab, merges=merges, byte_fallback=True, fuse_unk=True)
    tokenizer = Tokenizer(bpe)
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("▁"), behavior="merged_with_next")
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    tokenizer.add_special_tokens(specials)
    return tokenizer


def fast_tokenizer(backend: Any, **special: Any) -> Any:
    """Wrap a ``tokenizers.Tokenizer`` as the transformers tokenizer the processor takes."""
    from transformers import PreTrainedTokenizerFast

    extra = special.pop("extra_special_tokens", {})
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
        extra_special_tokens=extra,
        **special,
    )


def _ids(tokenizer: Any, *tokens: str) -> list[int]:
    ids = [int(tokenizer.convert_tokens_to_ids(token)) for token in tokens]
    unknown = [t for t, i in zip(tokens, ids, strict=True)
               if i is None or (i == tokenizer.unk_token_id and t != tokenizer.unk_token)]
    if unknown:
        raise ValueError(f"tokens missing from the vocabulary: {unknown}")
    return ids


def _image_processor(name: str, **settings: Any) -> Any:
    """The family's image processor as users get it: the torchvision backend where torchvision is
    installed (transformers' default), else the PIL one (``<name>Pil``)."""
    import transformers

    from skillgap.backends._families import torchvision_available

    return getattr(transformers, name if torchvision_available() else f"{name}Pil")(**settings)


def _processor(cls: type, video: str | None = None) -> Any:
    """A constructor of processor class ``cls``: with torchvision, one that adds the family's video
    processor ``video`` (as hub folders have it); without, the class narrowed to images (as
    skillgap loads it then)."""
    import transformers

    from skillgap.backends._families import takes_video, torchvision_available, without_video

    if not takes_video(cls):
        return cls
    if not torchvision_available():
        return without_video(cls)
    assert video is not None, f"{cls.__name__} takes a video processor: name it"
    video_processor = getattr(transformers, video)()
    return lambda **parts: cls(video_processor=video_processor, **parts)


def _save(path: Path, model: Any, processor: Any, generation: dict[str, Any], seed: int) -> Path:
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(do_sample=False, **generation)
    model.save_pretrained(path, safe_serialization=True)
    if processor is not None:
        processor.save_pretrained(path)
    card = {"layout": "free", "builder": "tests/conformance/mllm_families.py", "seed": seed}
    (path / "skillgap.json").write_text(json.dumps(card, indent=2))
    return path


# Chat templates in each family's style. Content parts render in order; images as the family's
# placeholder. Newlines are written as {{ '\n' }} because processors render with trim_blocks.
_PARTS = (
    "{%- if message['content'] is string -%}{{ message['content'] }}{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}IMAGE{%- else -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
)


def _parts(image: str) -> str:
    return _PARTS.replace("IMAGE", image)


LLAVA_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}USER: " + _parts("<image>{{ '\\n' }}") + " "
    "{%- elif message['role'] == 'assistant' -%}ASSISTANT: " + _parts("") + "</s>"
    "{%- else -%}" + _parts("") + " {%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}ASSISTANT:{%- endif -%}"
)
CHATML_TEMPLATE = (  # Qwen2 / LLaVA-OneVision / SmolVLM-like im_start blocks
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] }}{{ '\\n' }}" + _parts("IMG") + "<|im_end|>{{ '\\n' }}"
    "{%- endfor -%}{%- if add_generation_prompt -%}<|im_start|>assistant{{ '\\n' }}{%- endif -%}"
)
QWEN_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' -%}"
    "<|im_start|>system{{ '\\n' }}You are a helpful assistant.<|im_end|>{{ '\\n' }}{%- endif -%}"
    + CHATML_TEMPLATE
)
IDEFICS3_TEMPLATE = (
    "<|im_start|>{%- for message in messages -%}"
    "{{ message['role'] | capitalize }}:" + _parts("<image>") + "<end_of_utterance>{{ '\\n' }}"
    "{%- endfor -%}{%- if add_generation_prompt -%}Assistant:{%- endif -%}"
)
LLAMA3_TEMPLATE = (
    "<|begin_of_text|>{%- for message in messages -%}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>{{ '\\n\\n' }}"
    + _parts("<|image|>") + "<|eot_id|>{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|start_header_id|>assistant<|end_header_id|>{{ '\\n\\n' }}"
    "{%- endif -%}"
)
GEMMA_TEMPLATE = (
    "<bos>{%- for message in messages -%}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}{{ '\\n' }}"
    + _parts("<start_of_image>") + "<end_of_turn>{{ '\\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}<start_of_turn>model{{ '\\n' }}{%- endif -%}"
)
# PaliGemma has no chat turns: image placeholders first, then the prompt; with images the processor
# itself writes <bos> after the last placeholder and the closing newline, without images we do.
PALIGEMMA_TEMPLATE = (
    "{%- set ns = namespace(images=0) -%}"
    "{%- for message in messages -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}<image>{%- set ns.images = ns.images + 1 -%}{%- endif -%}"
    "{%- endfor -%}{%- endfor -%}{%- if ns.images == 0 -%}<bos>{%- endif -%}"
    "{%- for message in messages -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endfor -%}{%- if ns.images == 0 -%}{{ '\\n' }}{%- endif -%}"
)
MOLMO2_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] }}{{ '\\n' }}" + _parts("<|image|>") + "<|im_end|>{{ '\\n' }}"
    "{%- endfor -%}{%- if add_generation_prompt -%}<|im_start|>assistant{{ '\\n' }}{%- endif -%}"
)


def build_llava(path: Path, seed: int = 0) -> Path:
    """LLaVA 1.5 style: CLIP vision tower, Llama text model, byte-level BPE, ``USER:``/``ASSISTANT:``."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
    tokenizer = fast_tokenizer(
        byte_level_tokenizer(specials), unk_token="<unk>", bos_token="<s>", eos_token="</s>",
        pad_token="<pad>", extra_special_tokens={"image_token": "<image>"},
    )
    _, bos, eos, pad, image = _ids(tokenizer, *specials)
    size, patch = 28, 14
    processor = LlavaProcessor(
        image_processor=_image_processor(
            "LlavaImageProcessor", size={"shortest_edge": size},
            crop_size={"height": size, "width": size}),
        tokenizer=tokenizer, patch_size=patch, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template="{{ bos_token }}" + LLAVA_TEMPLATE,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=VISION_HIDDEN, intermediate_size=64,
                                       num_hidden_layers=1, num_attention_heads=2,
                                       image_size=size, patch_size=patch, projection_dim=32),
        text_config=LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=1024,
                                bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, **TEXT),
        image_token_id=image, vision_feature_select_strategy="default", vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    return _save(path, model, processor, {"bos_token_id": bos, "eos_token_id": eos,
                                          "pad_token_id": pad}, seed)


def _qwen_tokenizer() -> tuple[Any, tuple[int, ...]]:
    """The byte-level BPE tokenizer of the Qwen-VL families (ChatML and vision specials), and the
    ids of its specials: endoftext, im_start, im_end, vision_start, vision_end, image, video."""
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    tokenizer = fast_tokenizer(
        byte_level_tokenizer(specials), eos_token="<|im_end|>", pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                              "vision_bos_token": "<|vision_start|>",
                              "vision_eos_token": "<|vision_end|>"},
    )
    return tokenizer, tuple(_ids(tokenizer, *specials))


def build_qwen2_5_vl(path: Path, seed: int = 0) -> Path:
    """Qwen2.5-VL: dynamic-resolution vision (``image_grid_thw``), ChatML, byte-level BPE."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
    )

    tokenizer, (endoftext, _, im_end, vstart, vend, image, video) = _qwen_tokenizer()
    processor = _processor(Qwen2_5_VLProcessor, "Qwen2VLVideoProcessor")(
        image_processor=_image_processor(
            "Qwen2VLImageProcessor", patch_size=14, merge_size=2, temporal_patch_size=2,
            size={"shortest_edge": 28 * 28, "longest_edge": 28 * 28 * 6}),
        tokenizer=tokenizer,
        chat_template=QWEN_TEMPLATE.replace("IMG", "<|vision_start|><|image_pad|><|vision_end|>"),
    )
    config = Qwen2_5_VLConfig(
        text_config={"vocab_size": len(tokenizer), "max_position_embeddings": 1024,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                         "mrope_section": [2, 3, 3]},
                     "bos_token_id": endoftext, "eos_token_id": im_end, "pad_token_id": endoftext,
                     **{k: v for k, v in TEXT.items() if k != "head_dim"}},
        vision_config={"depth": 1, "hidden_size": VISION_HIDDEN, "intermediate_size": 64,
                       "num_heads": 2, "out_hidden_size": TEXT["hidden_size"], "patch_size": 14,
                       "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 56,
                       "fullatt_block_indexes": [0]},
        image_token_id=image, video_token_id=video, vision_start_token_id=vstart,
        vision_end_token_id=vend,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    return _save(path, model, processor, {"bos_token_id": endoftext, "eos_token_id": [im_end, endoftext],
                                          "pad_token_id": endoftext}, seed)


def build_gemma3(path: Path, seed: int = 0) -> Path:
    """Gemma 3: SigLIP tower with pooled image tokens, SentencePiece-style tokenizer."""
    import torch
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3Processor,
    )

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>",
                "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
    tokenizer = fast_tokenizer(
        sentencepiece_tokenizer(specials), pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
        unk_token="<unk>",
        extra_special_tokens={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                              "image_token": "<image_soft_token>"},
    )
    pad, eos, bos, _, _, end_turn, boi, eoi, image = _ids(tokenizer, *specials)
    size, patch, tokens_per_image = 28, 14, 4
    processor = Gemma3Processor(
        image_processor=_image_processor(
            "Gemma3ImageProcessor", size={"height": size, "width": size}, image_mean=[0.5] * 3,
            image_std=[0.5] * 3),
        tokenizer=tokenizer, image_seq_length=tokens_per_image, chat_template=GEMMA_TEMPLATE,
    )
    config = Gemma3Config(
        text_config={"vocab_size": len(tokenizer), "max_position_embeddings": 1024,
                     "sliding_window": 64, "bos_token_id": bos, "eos_token_id": eos,
                     "pad_token_id": pad, **TEXT},
        vision_config={"hidden_size": VISION_HIDDEN, "intermediate_size": 64,
                       "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": size,
                       "patch_size": patch, "vision_use_head": False},
        mm_tokens_per_image=tokens_per_image, boi_token_index=boi, eoi_token_index=eoi,
        image_token_index=image,
    )
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    return _save(path, model, processor, {"bos_token_id": bos, "eos_token_id": [eos, end_turn],
                                          "pad_token_id": pad}, seed)


def build_llava_onevision(path: Path, seed: int = 0) -> Path:
    """LLaVA-OneVision: SigLIP tower, Qwen2 text model, any-resolution tiles, ChatML."""
    import torch
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionProcessor,
    )

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
    tokenizer = fast_tokenizer(
        byte_level_tokenizer(specials), eos_token="<|im_end|>", pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<image>", "video_token": "<video>"},
    )
    endoftext, _, im_end, image, video = _ids(tokenizer, *specials)
    size, patch = 28, 14
    pinpoints = [[28, 28], [28, 56], [56, 28], [56, 56]]
    processor = _processor(LlavaOnevisionProcessor, "LlavaOnevisionVideoProcessor")(
        image_processor=_image_processor(
            "LlavaOnevisionImageProcessor", size={"height": size, "width": size},
            image_grid_pinpoints=pinpoints),
        tokenizer=tokenizer, num_image_tokens=(size // patch) ** 2,
        vision_feature_select_strategy="full",
        chat_template=CHATML_TEMPLATE.replace("IMG", "<image>{{ '\\n' }}"),
    )
    config = LlavaOnevisionConfig(
        vision_config={"model_type": "siglip_vision_model", "hidden_size": VISION_HIDDEN,
                       "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": size, "patch_size": patch, "vision_use_head": False},
        text_config={"model_type": "qwen2", "vocab_size": len(tokenizer),
                     "max_position_embeddings": 2048, "bos_token_id": endoftext,
                     "eos_token_id": im_end, "pad_token_id": endoftext,
                     **{k: v for k, v in TEXT.items() if k != "head_dim"}},
        image_token_index=image, video_token_index=video, image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="full", vision_feature_layer=-1,
        vision_aspect_ratio="anyres_max_9",
    )
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config)
    return _save(path, model, processor, {"bos_token_id": endoftext, "eos_token_id": im_end,
                                          "pad_token_id": endoftext}, seed)


def build_qwen3_vl(path: Path, seed: int = 0) -> Path:
    """Qwen3-VL: patch 16, DeepStack vision features, interleaved M-RoPE, ChatML."""
    import torch
    from transformers import (
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
    )

    tokenizer, (endoftext, _, im_end, vstart, vend, image, video) = _qwen_tokenizer()
    processor = _processor(Qwen3VLProcessor, "Qwen3VLVideoProcessor")(
        image_processor=_image_processor(
            "Qwen2VLImageProcessor", patch_size=16, merge_size=2, temporal_patch_size=2, image_mean=[0.5] * 3,
            image_std=[0.5] * 3, size={"shortest_edge": 32 * 32, "longest_edge": 32 * 32 * 6}),
        tokenizer=tokenizer,
        chat_template=CHATML_TEMPLATE.replace("IMG", "<|vision_start|><|image_pad|><|vision_end|>"),
    )
    config = Qwen3VLConfig(
        text_config={"vocab_size": len(tokenizer), "max_position_embeddings": 2048,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                         "mrope_section": [2, 3, 3], "mrope_interleaved": True},
                     "pad_token_id": endoftext, **TEXT},
        vision_config={"depth": 2, "hidden_size": VISION_HIDDEN, "intermediate_size": 64,
                       "num_heads": 2, "out_hidden_size": TEXT["hidden_size"], "patch_size": 16,
                       "spatial_merge_size": 2, "temporal_patch_size": 2,
                       "num_position_embeddings": 64, "deepstack_visual_indexes": [0]},
        image_token_id=image, video_token_id=video, vision_start_token_id=vstart,
        vision_end_token_id=vend,
    )
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config)
    return _save(path, model, processor, {"bos_token_id": endoftext, "eos_token_id": [im_end, endoftext],
                                          "pad_token_id": endoftext}, seed)


def build_mllama(path: Path, seed: int = 0) -> Path:
    """Llama 3.2 Vision: tiled images through cross-attention layers, Llama 3 headers."""
    import torch
    from transformers import (
        MllamaConfig,
        MllamaForConditionalGeneration,
        MllamaProcessor,
    )

    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                "<|end_header_id|>", "<|image|>", "<|python_tag|>", "<|finetune_right_pad_id|>"]
    tokenizer = fast_tokenizer(
        byte_level_tokenizer(specials), bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
        pad_token="<|finetune_right_pad_id|>", extra_special_tokens={"image_token": "<|image|>"},
    )
    bos, end_text, eot, _, _, image, _, pad = _ids(tokenizer, *specials)
    size = 28
    processor = MllamaProcessor(
        image_processor=_image_processor(
            "MllamaImageProcessor", size={"height": size, "width": size}, max_image_tiles=2),
        tokenizer=tokenizer, chat_template=LLAMA3_TEMPLATE,
    )
    config = MllamaConfig(
        vision_config={"hidden_size": VISION_HIDDEN, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_global_layers": 1, "attention_heads": 2, "image_size": size,
                       "patch_size": 14, "max_num_tiles": 2, "intermediate_layers_indices": [0],
                       "vision_output_dim": VISION_HIDDEN * 2,
                       "supported_aspect_ratios": [[1, 1], [1, 2], [2, 1]]},
        text_config={"vocab_size": len(tokenizer), "max_position_embeddings": 2048,
                     "cross_attention_layers": [1], "bos_token_id": bos, "eos_token_id": eot,
                     "pad_token_id": pad, **{k: v for k, v in TEXT.items() if k != "head_dim"}},
        image_token_index=image,
    )
    torch.manual_seed(seed)
    model = MllamaForConditionalGeneration(config)
    return _save(path, model, processor, {"bos_token_id": bos, "eos_token_id": [eot, end_text],
                                          "pad_token_id": pad}, seed)


def _idefics3_family(path: Path, seed: int, smolvlm: bool) -> Path:
    import torch
    import transformers

    prefix = "SmolVLM" if smolvlm else "Idefics3"
    rows = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    specials = ["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>",
                "<image>", "<global-img>", *rows]
    tokenizer = fast_tokenizer(
        byte_level_tokenizer(specials), bos_token="<|im_start|>", eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<image>", "fake_image_token": "<fake_token_around_image>",
                              "global_image_token": "<global-img>",
                              "end_of_utterance_token": "<end_of_utterance>"},
    )
    endoftext, im_start, eou, _, image, *_ = _ids(tokenizer, *specials[:6])
    size, patch, scale = 28, 14, 2
    image_processor = _image_processor(
        f"{prefix}ImageProcessor", size={"longest_edge": 2 * size}, max_image_size={"longest_edge": size},
        do_image_splitting=True)
    processor_class = getattr(transformers, f"{prefix}Processor")
    processor = _processor(processor_class, f"{prefix}VideoProcessor")(
        image_processor=image_processor, tokenizer=tokenizer,
        image_seq_len=(size // patch) ** 2 // scale**2, chat_template=IDEFICS3_TEMPLATE,
    )
    config = getattr(transformers, f"{prefix}Config")(
        vision_config={"hidden_size": VISION_HIDDEN, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": size, "patch_size": patch},
        text_config={"model_type": "llama", "vocab_size": len(tokenizer),
                     "max_position_embeddings": 2048, "bos_token_id": im_start,
                     "eos_token_id": eou, "pad_token_id": endoftext, **TEXT},
        image_token_id=image, scale_factor=scale,
    )
    torch.manual_seed(seed)
    model = getattr(transformers, f"{prefix}ForConditionalGeneration")(config)
    return _save(path, model, processor, {"bos_token_id": im_start, "eos_token_id": eou,
                                          "pad_token_id": endoftext}, seed)


def build_idefics3(path: Path, seed: int = 0) -> Path:
    """Idefics3: SigLIP-style tower with pixel shuffle, image splitting with row/col tags."""
    return _idefics3_family(path, seed, smolvlm=False)


def build_smolvlm(path: Path, seed: int = 0) -> Path:
    """SmolVLM: Idefics3's architecture with its own processor (video part, num2words)."""
    return _idefics3_family(path, seed, smolvlm=True)


def build_paligemma(path: Path, seed: int = 0) -> Path:
    """PaliGemma: SigLIP tower, Gemma text model, prefix image tokens, no chat turns."""
    import torch
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
    )

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<image>"]
    tokenizer = fast_tokenizer(
        sentencepiece_tokenizer(specials), pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
        unk_token="<unk>", extra_special_tokens={"image_token": "<image>"},
    )
    pad, eos, bos, _, image = _ids(tokenizer, *specials)
    size, patch = 28, 14
    image_processor = _image_processor("SiglipImageProcessor", size={"height": size, "width": size})
    image_processor.image_seq_length = (size // patch) ** 2
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                   chat_template=PALIGEMMA_TEMPLATE)
    config = PaliGemmaConfig(
        vision_config={"model_type": "siglip_vision_model", "hidden_size": VISION_HIDDEN,
                       "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": size, "patch_size": patch, "projection_dim": TEXT["hidden_size"],
                       "vision_use_head": False},
        text_config={"model_type": "gemma", "vocab_size": len(tokenizer),
                     "max_position_embeddings": 2048, "bos_token_id": bos, "eos_token_id": eos,
                     "pad_token_id": pad, **TEXT},
        image_token_index=image, projection_dim=TEXT["hidden_size"],
    )
    torch.manual_seed(seed)
    model = PaliGemmaForConditionalGeneration(config)
    return _save(path, model, processor, {"bos_token_id": bos, "eos_token_id": eos,
                                          "pad_token_id": pad}, seed)


def build_molmo2(path: Path, seed: int = 0) -> Path:
    """Molmo2: overlapping crops plus a low-resolution view, pooled patches, ChatML. Its image
    processor exists only with a torchvision backend in transformers 5 (``make conformance-vision``)."""
    import torch
    from transformers import (
        Molmo2Config,
        Molmo2ForConditionalGeneration,
        Molmo2ImageProcessor,
        Molmo2Processor,
    )

    from skillgap.backends._families import torchvision_available

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|image|>", "<im_start>",
                "<low_res_im_start>", "<im_end>", "<im_patch>", "<im_col>", "<frame_start>",
                "<frame_end>", "<im_low>", "<|video|>"]
    tokenizer = fast_tokenizer(
        byte_level_tokenizer(specials), eos_token="<|im_end|>", pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<|image|>", "video_token": "<|video|>"},
    )
    endoftext, _, im_end, _, start, low_start, end, patch_id, _, frame_start, frame_end, _, _ = _ids(
        tokenizer, *specials)
    # 56-pixel crops of 4x4 patches overlapping by one patch each side, at most two crops, pooled
    # 2x2: a handful of image tokens per view instead of Molmo2's hundreds.
    crop, patch = 56, 14
    settings = {"size": {"height": crop, "width": crop}, "patch_size": patch, "max_crops": 2,
                "overlap_margins": [1, 1], "pooling_size": [2, 2]}
    heads = {"num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": VISION_HIDDEN // 2}
    config = Molmo2Config(
        vision_config={"hidden_size": VISION_HIDDEN, "intermediate_size": 64, "num_hidden_layers": 2,
                       "image_size": [crop, crop], "patch_size": patch, **heads},
        adapter_config={"vision_feature_layer": [-1], "hidden_size": VISION_HIDDEN,
                        "intermediate_size": 64, "text_hidden_size": TEXT["hidden_size"], **heads},
        text_config={"vocab_size": len(tokenizer), "additional_vocab_size": 8,
                     "max_position_embeddings": 2048, "pad_token_id": endoftext,
                     "eos_token_id": im_end, **TEXT},
        image_start_token_id=start, low_res_image_start_token_id=low_start,
        image_end_token_id=end, image_patch_id=patch_id, frame_start_token_id=frame_start,
        frame_end_token_id=frame_end,
    )
    torch.manual_seed(seed)
    model = Molmo2ForConditionalGeneration(config)
    generation = {"eos_token_id": im_end, "pad_token_id": endoftext}
    if torchvision_available():
        processor = _processor(Molmo2Processor, "Molmo2VideoProcessor")(
            image_processor=Molmo2ImageProcessor(**settings), tokenizer=tokenizer,
            chat_template=MOLMO2_TEMPLATE)
        return _save(path, model, processor, generation, seed)
    # Without torchvision its image processor cannot be made; write the folder as a download has it
    # (the processor's settings as JSON), so loading it shows what users without torchvision get.
    tokenizer.save_pretrained(path)
    (path / "chat_template.jinja").write_text(MOLMO2_TEMPLATE)
    image = {"image_processor_type": "Molmo2ImageProcessor", **settings}
    (path / "processor_config.json").write_text(
        json.dumps({"processor_class": "Molmo2Processor", "image_processor": image}, indent=2))
    return _save(path, model, None, generation, seed)


#: family name -> builder, in the order the README table lists them.
BUILDERS: dict[str, Callable[[Path, int], Path]] = {
    "llava": build_llava,
    "qwen2_5_vl": build_qwen2_5_vl,
    "gemma3": build_gemma3,
    "llava_onevision": build_llava_onevision,
    "qwen3_vl": build_qwen3_vl,
    "mllama": build_mllama,
    "idefics3": build_idefics3,
    "smolvlm": build_smolvlm,
    "paligemma": build_paligemma,
    "molmo2": build_molmo2,
}


def build(family: str, path: str | Path, seed: int = 0) -> Path:
    """Build ``family`` into ``path`` (created) and return the folder."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return BUILDERS[family](folder, seed)


if __name__ == "__main__":
    print(build(sys.argv[1], sys.argv[2]))
