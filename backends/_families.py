"""What real MLLM families need beyond ``AutoProcessor``: loading without torchvision, clear errors
for missing optional packages, and per-family image-size options.

Processors of Qwen2.5-VL/Qwen3-VL, LLaVA-OneVision and SmolVLM take a video processor, which
transformers implements with torchvision. skillgap sends images only, so when torchvision is absent
the processor is loaded without its video part (the image processors have PIL backends).
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
from pathlib import Path
from typing import Any

#: Optional packages some processors import, and how to install them.
OPTIONAL_PACKAGES: dict[str, str] = {
    "num2words": "pip install 'skillgap[models]' (or: pip install num2words)",
    # torchvision releases pair with one torch release each (see the README's family table).
    "torchvision": "pip install 'skillgap[vision]' (torchvision, for the torch build installed)",
}


class MissingPackageError(ImportError):
    """A model's processor needs an optional package that is not installed."""


def missing_package_error(package: str, model: str, exc: BaseException | None = None) -> MissingPackageError:
    hint = OPTIONAL_PACKAGES.get(package, f"pip install {package}")
    detail = f" ({exc})" if exc is not None else ""
    return MissingPackageError(
        f"the processor of {model!r} needs the optional package {package!r}, which is not installed; "
        f"install it with: {hint}{detail}"
    )


def torchvision_available() -> bool:
    from transformers.utils import is_torchvision_available

    return bool(is_torchvision_available())


def _processor_class_name(source: str, **hub: Any) -> str | None:
    """The processor class a folder or cached hub model declares (``processor_config.json``,
    else ``preprocessor_config.json``/``tokenizer_config.json``, else the model type's default)."""
    from transformers.utils import cached_file

    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        try:
            path = cached_file(source, name, _raise_exceptions_for_missing_entries=False, **hub)
        except OSError:
            path = None
        if path:
            declared = json.loads(Path(path).read_text()).get("processor_class")
            if declared:
                return str(declared)
    try:
        config_path = cached_file(source, "config.json", **hub)
    except OSError:
        return None
    if not config_path:
        return None
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    model_type = json.loads(Path(config_path).read_text()).get("model_type")
    found = PROCESSOR_MAPPING_NAMES.get(model_type)
    return str(found) if found else None


class NoVideoProcessor:
    """Stands in for the video processor of a processor loaded without torchvision: the settings
    chat templates read (SmolVLM reads ``num_frames`` and ``fps``) are unset; a video is an error."""

    num_frames = None
    fps = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise missing_package_error("torchvision", "this model (videos)")


@functools.cache
def without_video(cls: type) -> type:
    """A subclass of processor class ``cls`` that takes no video processor.

    ``ProcessorMixin`` reads its sub-processors from the ``__init__`` signature, so dropping the
    ``video_processor`` parameter is what makes ``from_pretrained`` skip loading it. The subclass
    keeps the original's name so folders it saves stay loadable by plain ``AutoProcessor``.
    """
    signature = inspect.signature(cls.__init__)  # type: ignore[misc]
    # A real parameter list, not *args: from_pretrained reads __init__.__code__.co_varnames to
    # decide which saved settings (chat_template, image_seq_len...) to pass.
    named = [p for p in signature.parameters.values()
             if p.name not in ("self", "video_processor") and p.kind is p.POSITIONAL_OR_KEYWORD]
    defaults = {p.name: p.default for p in named if p.default is not p.empty}
    params = ", ".join(f"{p.name}=_defaults[{p.name!r}]" if p.name in defaults else p.name for p in named)
    passed = ", ".join(f"{p.name}={p.name}" for p in named)
    source = (f"def __init__(self, {params}, **kwargs):\n"
              f"    _init(self, video_processor=None, {passed}, **kwargs)\n"
              f"    self.video_processor = _NoVideo()\n")
    namespace: dict[str, Any] = {"_init": cls.__init__, "_defaults": defaults,  # type: ignore[misc]
                                 "_NoVideo": NoVideoProcessor}
    exec(source, namespace)  # the parameter list is only known at run time
    __init__ = namespace["__init__"]
    return type(cls.__name__, (cls,), {"__init__": __init__, "__module__": cls.__module__,
                                       "__qualname__": cls.__qualname__})


def takes_video(cls: type) -> bool:
    return "video_processor" in inspect.signature(cls.__init__).parameters  # type: ignore[misc]


def load_processor(source: str, **hub: Any) -> Any:
    """``AutoProcessor.from_pretrained``, without the video processor when torchvision is absent.

    Raises:
        MissingPackageError: the processor needs an optional package (named, with how to install it).
    """
    import transformers
    from transformers import AutoProcessor

    name = None if torchvision_available() else _processor_class_name(source, **hub)
    cls = getattr(transformers, name, None) if name else None
    try:
        if cls is not None and takes_video(cls):
            narrowed: Any = without_video(cls)
            processor = narrowed.from_pretrained(source, **hub)
        else:
            processor = AutoProcessor.from_pretrained(source, **hub)
    except (ImportError, ValueError) as exc:
        text = str(exc)
        # transformers says a backend is missing with a ValueError (Molmo2's image processor
        # without torchvision: "... Missing optional dependencies: torchvision").
        if isinstance(exc, ImportError) or "Missing optional dependencies" in text:
            for package in OPTIONAL_PACKAGES:
                if package in text:
                    raise missing_package_error(package, source, exc) from exc
        raise
    _check_optional_packages(processor, source)
    return processor


def _check_optional_packages(processor: Any, source: str) -> None:
    """Fail at load time, not at the first prompt, when a processor will need a missing package."""
    if type(processor).__name__ == "SmolVLMProcessor" and importlib.util.find_spec("num2words") is None:
        raise missing_package_error("num2words", source)
    image_processor = getattr(processor, "image_processor", None)
    torchvision_backend = getattr(image_processor, "backend", None) == "torchvision"
    if torchvision_backend and not torchvision_available():
        raise missing_package_error("torchvision", source)


def image_size_options(processor: Any, min_pixels: int | None, max_pixels: int | None) -> dict[str, Any]:
    """Processor call options that bound an image's pixel count, in the family's own terms.

    Qwen2-VL-style processors resize to between ``min_pixels`` and ``max_pixels``; other families
    resize to a fixed size, so the bounds do not apply and asking for them is an error.
    """
    if min_pixels is None and max_pixels is None:
        return {}
    image_processor = getattr(processor, "image_processor", None)
    size = getattr(image_processor, "size", None)  # a dict or transformers' SizeDict
    edges = {edge: (size.get(edge) if isinstance(size, dict) else getattr(size, edge, None))
             for edge in ("shortest_edge", "longest_edge")}
    if None in edges.values() or not hasattr(image_processor, "merge_size"):
        raise ValueError(
            f"min_pixels/max_pixels apply to dynamic-resolution processors (Qwen2-VL style); "
            f"{type(processor).__name__} resizes images to a fixed size"
        )
    bounds = {edge: int(value) for edge, value in edges.items() if value is not None}
    if min_pixels is not None:
        bounds["shortest_edge"] = int(min_pixels)
    if max_pixels is not None:
        bounds["longest_edge"] = int(max_pixels)
    if bounds["shortest_edge"] > bounds["longest_edge"]:
        raise ValueError(f"min_pixels {bounds['shortest_edge']} > max_pixels {bounds['longest_edge']}")
    return {"size": bounds}


def per_prompt_images(processor: Any) -> bool:
    """Whether the processor wants a batch's images as one list per prompt (mllama, Idefics3,
    SmolVLM, Gemma 3 read a flat list as "all images belong to the first prompt").

    A nested list is what every image-text-to-text processor of transformers 5 accepts, so skillgap
    always passes one; this only records which families break without it.
    """
    return type(processor).__name__ in {
        "MllamaProcessor", "Idefics3Processor", "SmolVLMProcessor", "Gemma3Processor"}


#: Processors that refuse a call without images; text-only prompts (a cascade's textual step) go
#: through their tokenizer, which is all the processor would do for them.
_IMAGES_REQUIRED = {"PaliGemmaProcessor"}


def text_encoder(processor: Any) -> Any:
    """What encodes a batch of text-only prompts: the processor, or its tokenizer where the
    processor demands images."""
    return processor.tokenizer if type(processor).__name__ in _IMAGES_REQUIRED else processor
