"""The transformers backend: any Hugging Face image-text-to-text model, batched, optionally constrained.

Constrained decoding uses outlines' ``OutlinesCoreLogitsProcessor`` (outlines 1.3) inside our own
batched ``model.generate`` call, so constrained and free requests share one code path.
"""

from __future__ import annotations

import io
import json
import math
import threading
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from ._batching import BatchingBackend
from ._types import Constraint, Generation, GenerationRequest, ImagePart, TextPart

_DTYPES = ("auto", "float32", "float16", "bfloat16")
#: Short names accepted for ``dtype`` (the CLI's ``--dtype bf16``).
_DTYPE_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
_ATTENTION = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")


class TransformersBackend(BatchingBackend):
    """A Hugging Face ``AutoModelForImageTextToText`` model served with dynamic batching.

    The model loads on first use (or when :meth:`load` is called) in the batch worker thread.
    A local folder is always loaded with ``local_files_only=True``, so nothing waits on the network.

    Args:
        model: Hub id (``"llava-hf/llava-1.5-7b-hf"``) or local folder written by ``save_pretrained``.
        device: ``"cuda"``, ``"cpu"``, ``"cuda:1"``...; default CUDA when available, else CPU.
        dtype: ``"auto"`` (bfloat16 on CUDA, float32 on CPU), ``"float32"``, ``"float16"``,
            ``"bfloat16"``.
        max_batch_size: Most requests in one ``generate`` call.
        batch_wait_s: How long to wait for more requests before running a partial batch.
        trust_remote_code: Allow model code from the hub; off unless you trust the repository.
        revision: Hub revision (branch, tag or commit).
        constrained: Apply request constraints with outlines; when off, constraints are ignored.
        local_files_only: Never contact the hub (default). A hub id then resolves from the local
            Hugging Face cache at once, and one that is not cached fails at once, saying so;
            ``False`` lets transformers download it.
        device_map: ``"auto"`` spreads a model larger than one GPU over all GPUs (and the CPU);
            ``device`` is then where inputs go (default: the first GPU).
        attn_implementation: ``"sdpa"``, ``"flash_attention_2"``, ``"eager"``...; default:
            transformers' choice.
        min_pixels, max_pixels: Bounds on an image's pixel count for dynamic-resolution families
            (Qwen2.5-VL, Qwen3-VL); other families resize to a fixed size and reject them.
        group_by_image_size: Batch together only requests whose images are of similar size
            (within a factor of two in pixels), so small images are not padded to large ones.
        context_length: The model's context window in tokens; default: its config's
            ``max_position_embeddings`` (of the text model), else the tokenizer's
            ``model_max_length``. A request whose prompt plus ``max_tokens`` exceeds it is this
            request's error, naming both numbers, before the forward pass; ``max_tokens`` is never
            clamped (an answer cut short silently would be scored as a wrong answer).

    Example:
        >>> backend = TransformersBackend("/path/to/model")  # doctest: +SKIP
        >>> asyncio.run(backend.generate([request]))  # doctest: +SKIP
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path,
        *,
        device: str | None = None,
        dtype: str = "auto",
        max_batch_size: int = 16,
        batch_wait_s: float = 0.005,
        trust_remote_code: bool = False,
        revision: str | None = None,
        constrained: bool = True,
        local_files_only: bool | None = None,
        device_map: str | None = None,
        attn_implementation: str | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        group_by_image_size: bool = True,
        context_length: int | None = None,
    ):
        dtype = _DTYPE_ALIASES.get(dtype, dtype)
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES} (or bf16, fp16, fp32), got {dtype!r}")
        if attn_implementation is not None and attn_implementation not in _ATTENTION:
            raise ValueError(f"attn_implementation must be one of {_ATTENTION}, got {attn_implementation!r}")
        offline = True if local_files_only is None else local_files_only
        source, is_local = _resolve_model(model, revision=revision, local_files_only=offline)
        # A cached hub model loads from its snapshot folder but keeps its hub id in run logs.
        self.source = source
        model_id = str(model) if is_local and not _path_like(model) else source
        super().__init__(model_id, max_batch_size=max_batch_size, batch_wait_s=batch_wait_s)
        self.device = device or _default_device()
        self.device_map = device_map
        self.attn_implementation = attn_implementation
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.group_by_image_size = group_by_image_size
        if dtype == "auto":
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        self.dtype = dtype
        # A local folder has no hub revision; its weights' digest stands in, so a retrained model at
        # the same path never reuses the call cache or resumes a run made with the old weights.
        self.revision = revision
        self.weights_digest = _folder_digest(source) if is_local else None
        self.trust_remote_code = trust_remote_code
        self.constrained = constrained
        self.local_files_only = True if is_local else offline
        self.native_layout = _native_layout(source) if is_local else "free"
        self._requested_device = device
        self.context_length = context_length
        self._max_token_chars = 1  # the longest token string: a prompt has >= chars / this tokens
        self._load_lock = threading.Lock()
        self._model: Any = None
        self._processor: Any = None
        self._processors: dict[tuple[str, str], Any] = {}
        self._vocabulary: Any = None
        self._vocabulary_eos: int = 0
        self._budgets: dict[str, int | None] = {}
        self._image_options: dict[str, Any] = {}
        self._eos_ids: list[int] = []
        self._pad_id: int | None = None

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "revision": self.revision,
            "weights_digest": self.weights_digest,
            "device": self.device,
            "dtype": self.dtype,
            "trust_remote_code": self.trust_remote_code,
            "constrained": self.constrained,
            # Bumped when constrained decoding changes what it accepts (the call cache keys on it).
            "constraint_engine": CONSTRAINT_ENGINE,
            "local_files_only": self.local_files_only,
            "native_layout": self.native_layout,
            "device_map": self.device_map,
            "attn_implementation": self.attn_implementation,
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
        }

    def batch_key(self, request: GenerationRequest) -> Hashable:
        """Compatible decoding settings and, when grouping, images of similar size (a factor of two
        in pixels) so a batch's small images are not padded up to its largest."""
        key = super().batch_key(request)
        if not self.group_by_image_size or not request.images:
            return key
        return (key, tuple(_size_bucket(ref) for ref in request.images))

    def load(self) -> None:
        """Load the processor and model now (otherwise the first batch does it); idempotent."""
        with self._load_lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModelForImageTextToText

            from ._families import image_size_options, load_processor

            common: dict[str, Any] = {
                "revision": self.revision,
                "trust_remote_code": self.trust_remote_code,
                "local_files_only": self.local_files_only,
            }
            processor = load_processor(self.source, **common)
            self._image_options = image_size_options(processor, self.min_pixels, self.max_pixels)
            tokenizer = getattr(processor, "tokenizer", None)
            if tokenizer is None:
                raise ValueError(f"the processor of {self.model_id!r} has no tokenizer")
            # Left padding: every prompt ends where generation starts.
            tokenizer.padding_side = "left"
            placement: dict[str, Any] = {}
            if self.device_map is not None:
                placement["device_map"] = self.device_map
            if self.attn_implementation is not None:
                placement["attn_implementation"] = self.attn_implementation
            model: Any = AutoModelForImageTextToText.from_pretrained(
                self.source,
                dtype=getattr(torch, self.dtype),
                use_safetensors=True,
                **common,
                **placement,
            )
            if self.device_map is None:
                model.to(self.device)
            elif self._requested_device is None:  # inputs go where the first layers are
                self.device = str(next(model.parameters()).device)
            model.eval()

            eos = model.generation_config.eos_token_id
            if eos is None:
                eos = tokenizer.eos_token_id
            if eos is None:
                raise ValueError(f"{self.model_id!r} declares no end-of-sequence token")
            self._eos_ids = [int(e) for e in (eos if isinstance(eos, list) else [eos])]
            pad = model.generation_config.pad_token_id
            if pad is None:
                pad = tokenizer.pad_token_id
            self._pad_id = int(pad) if pad is not None else self._eos_ids[0]
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token_id = self._pad_id
            if self.context_length is None:
                self.context_length = context_length_of(model.config, tokenizer)
            self._max_token_chars = max((len(token) for token in tokenizer.get_vocab()), default=1)
            self._processor, self._model = processor, model

    def _generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        self.load()
        results: list[Generation | None] = [None] * len(requests)
        prompts: list[str] = []
        # One list of images per prompt: mllama, Idefics3/SmolVLM and Gemma 3 read a flat list as
        # "every image belongs to the first prompt".
        images: list[list[Any]] = []
        indices: list[int] = []
        for index, request in enumerate(requests):
            try:
                request_images = [ref.load() for ref in request.images]
            except Exception as exc:  # this request only: the rest of the batch still runs
                results[index] = _error(f"image could not be loaded: {exc}")
                continue
            try:
                prompt = self._render(request)
            except Exception as exc:
                results[index] = _error(f"prompt could not be rendered: {exc}")
                continue
            # Sure to overflow without tokenizing (a 20 MB prompt would cost gigabytes to tokenize).
            if self.context_length and len(prompt) > self.context_length * self._max_token_chars:
                results[index] = _error(context_error(f"over {self.context_length}", request.max_tokens,
                                                      self.context_length))
                continue
            prompts.append(prompt)
            images.append(request_images)
            indices.append(index)
        constraint = requests[indices[0]].constraint if indices else None
        if constraint is not None and self.constrained:
            try:  # a constraint outlines cannot compile is these requests' error, not a crash
                self._constraint_processor(constraint)
            except Exception as exc:
                for index in indices:
                    results[index] = _error(f"the output constraint cannot be used: {exc}")
                indices = []
        while indices:
            try:
                generated = self._run(requests[indices[0]], prompts, images)
            except _ContextOverflow as overflow:  # those requests fail; the others run
                for index, message in zip(indices, overflow.errors, strict=True):
                    if message is not None:
                        results[index] = _error(message)
                keep = [i for i, message in enumerate(overflow.errors) if message is None]
                indices = [indices[i] for i in keep]
                prompts, images = [prompts[i] for i in keep], [images[i] for i in keep]
                continue
            for index, generation in zip(indices, generated, strict=True):
                results[index] = generation
            break
        return [result for result in results if result is not None]

    def _context_errors(self, inputs: Any, max_tokens: int) -> list[str | None]:
        """Per prompt of a tokenized batch: why it does not fit the context, or None."""
        lengths = [int(length) for length in inputs["attention_mask"].sum(dim=1).tolist()]
        limit = self.context_length
        return [context_error(length, max_tokens, limit) if limit and length + max_tokens > limit
                else None for length in lengths]

    def _render(self, request: GenerationRequest) -> str:
        prompt = self._processor.apply_chat_template(
            chat_messages(request), add_generation_prompt=True, tokenize=False
        )
        return str(prompt)

    def _run(
        self, request: GenerationRequest, prompts: list[str], images: list[list[Any]]
    ) -> list[Generation]:
        """One ``generate`` call for prompts that share ``request``'s batch key."""
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        from ._families import text_encoder

        with_images = any(images)
        encoder = self._processor if with_images else text_encoder(self._processor)
        inputs = encoder(
            text=prompts,
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,  # the chat template already wrote them
            **({"images": images, **self._image_options} if with_images else {}),
        )
        overflow = self._context_errors(inputs, request.max_tokens)
        if any(overflow):
            raise _ContextOverflow(overflow)
        inputs = inputs.to(self.device)
        for name in ("pixel_values", "pixel_values_videos"):
            if name in inputs and inputs[name].is_floating_point():
                inputs[name] = inputs[name].to(getattr(torch, self.dtype))
        sampling = request.temperature > 0
        config = GenerationConfig(
            max_new_tokens=self._token_budget(request),
            do_sample=sampling,
            temperature=request.temperature if sampling else None,
            top_k=None,
            top_p=None,
            num_beams=1,
            eos_token_id=self._eos_ids,
            pad_token_id=self._pad_id,
            return_dict_in_generate=True,
            output_logits=True,
        )
        processors = LogitsProcessorList()
        if request.constraint is not None and self.constrained:
            constraint_processor = self._constraint_processor(request.constraint)
            constraint_processor.reset()
            processors.append(constraint_processor)

        with torch.inference_mode(), torch.random.fork_rng(devices=self._rng_devices()):
            if sampling and request.seed is not None:
                torch.manual_seed(request.seed)
            output = self._model.generate(
                **inputs, generation_config=config, logits_processor=processors
            )

        prompt_length = inputs["input_ids"].shape[1]
        new_tokens = output.sequences[:, prompt_length:].cpu()
        logits = torch.stack(output.logits, dim=1).float().cpu()
        token_logprobs = torch.log_softmax(logits, dim=-1).gather(-1, new_tokens.unsqueeze(-1))
        input_counts = inputs["attention_mask"].sum(dim=1).tolist()
        eos = set(self._eos_ids)
        tokenizer = self._processor.tokenizer
        generations = []
        for row in range(new_tokens.shape[0]):
            tokens = new_tokens[row].tolist()
            stop = next((i for i, token in enumerate(tokens) if token in eos), None)
            count = len(tokens) if stop is None else stop + 1
            generations.append(
                Generation(
                    text=tokenizer.decode(tokens[:count], skip_special_tokens=True),
                    input_tokens=int(input_counts[row]),
                    output_tokens=count,
                    logprob=float(token_logprobs[row, :count].sum()),
                    finish_reason="stop" if stop is not None else "length",
                )
            )
        return generations

    def _rng_devices(self) -> list[int]:
        import torch

        if not self.device.startswith("cuda"):
            return []
        return [torch.device(self.device).index or 0]

    def _token_budget(self, request: GenerationRequest) -> int:
        """``max_tokens``, raised to what the constraint's longest match takes in this tokenizer
        (plus EOS): a budget counted in characters or guessed per skill would cut outputs before
        they match. Constraints that admit any length (free JSON strings) keep ``max_tokens``."""
        if request.constraint is None or not self.constrained:
            return request.max_tokens
        self._constraint_processor(request.constraint)  # computes the budget with the index
        longest = self._budgets.get(request.constraint.key())
        return request.max_tokens if longest is None else max(request.max_tokens, longest + 1)

    def _constraint_processor(self, constraint: Constraint) -> Any:
        """The outlines logits processor for a constraint, built once (reset before each use)."""
        cache_key = (constraint.kind, constraint.key())
        processor = self._processors.get(cache_key)
        if processor is None:
            from outlines_core.json_schema import build_regex_from_schema

            from ._constrained import longest_token_path

            if constraint.kind == "regex":
                assert constraint.pattern is not None
                regex = constraint.pattern
            else:
                # Compact JSON: unbounded whitespace would let a weak model spend its whole budget
                # on blanks, and would make every schema's longest match unbounded.
                regex = build_regex_from_schema(json.dumps(constraint.schema_), whitespace_pattern=r"[ ]?")
            index = regex_index(regex, self._outlines_vocabulary())
            self._budgets[constraint.key()] = longest_token_path(index, self._vocabulary_eos)
            processor = _eager_processor_class()(index, "torch")
            self._processors[cache_key] = processor
        return processor

    def _outlines_vocabulary(self) -> Any:
        """The token → bytes map outlines needs, without special tokens other than EOS.

        Special tokens (``<pad>``, ``<image>``...) are left out so a constraint can never emit
        them: they would be stripped from the decoded text and break the match. Each token's bytes
        come from the tokenizer's own decoding and are checked (see ``_constrained``).
        """
        if self._vocabulary is None:
            from outlines_core import Vocabulary

            from ._constrained import check_token_bytes, token_bytes

            tokenizer = self._processor.tokenizer
            eos_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else self._eos_ids[0]
            special = set(tokenizer.all_special_ids) | {
                token_id
                for token_id, added in tokenizer.added_tokens_decoder.items()
                if added.special
            }
            special |= set(self._eos_ids)
            table = token_bytes(tokenizer, sorted(set(tokenizer.get_vocab().values()) - special))
            check_token_bytes(tokenizer, table)
            vocab: dict[bytes, list[int]] = {}
            for token_id, data in table.items():
                if data:  # a token that adds nothing would let the automaton stall
                    vocab.setdefault(data, []).append(token_id)
            self._vocabulary = Vocabulary(int(eos_id), vocab)
            self._vocabulary_eos = int(eos_id)
        return self._vocabulary


def regex_index(regex: str, vocabulary: Any) -> Any:
    """An outlines-core index that accepts exactly the full matches of ``regex``.

    The pattern is wrapped and anchored at its end: without the ``$``, outlines-core's index stops
    at the first full match, so ``6+3`` could never grow into ``6+3+5``, nor ``1`` into ``12``.
    """
    from outlines_core import Index

    return Index(f"(?:{regex})$", vocabulary)


#: Version of the constrained-decoding semantics; v2: full-match (anchored) regex indices; v3: token
#: bytes from the tokenizer's own decoding, budgets from the constraint's longest match.
CONSTRAINT_ENGINE = "outlines-core/full-match-v3"

_EAGER_PROCESSOR_CLASS: Any = None


def _eager_processor_class() -> Any:
    """A logits processor that masks each step with an outlines-core ``Guide``, eagerly and out of
    place (the semantics of outlines' ``OutlinesCoreLogitsProcessor``, advancing a finished guide
    only on a token it accepts).

    It uses only ``outlines_core``'s compiled guide: outlines' stock processor imports
    ``outlines_core.kernels.torch``, whose ``torch.compile`` decorator loads TorchInductor (about 5 s
    of CPU at start-up) for a kernel we do not use, and masks in place, which would also overwrite
    the raw logits ``generate`` returns, from which we compute log-probabilities.
    """
    global _EAGER_PROCESSOR_CLASS
    if _EAGER_PROCESSOR_CLASS is None:
        import torch
        from outlines_core import Guide

        class EagerOutlinesCoreLogitsProcessor:
            def __init__(self, index: Any, tensor_library_name: str = "torch"):
                self.index = index
                self._guides: list[Any] = []
                self._bitmasks: list[Any] = []

            def reset(self) -> None:
                self._guides = []

            def __call__(self, input_ids: Any, logits: Any) -> Any:
                batch_size = input_ids.shape[0]
                if not self._guides:
                    words = (logits.shape[1] + 31) // 32
                    self._guides = [Guide(self.index) for _ in range(batch_size)]
                    self._bitmasks = [torch.full((1, words), -1, dtype=torch.int32)
                                      for _ in range(batch_size)]
                else:
                    for guide, ids in zip(self._guides, input_ids, strict=True):
                        last = int(ids[-1])
                        if not guide.is_finished() or guide.accepts_tokens([last]):
                            guide.advance(token_id=last, return_tokens=False)
                for guide, mask in zip(self._guides, self._bitmasks, strict=True):
                    guide.write_mask_into(mask.data_ptr(), mask.numel(), mask.element_size())
                words = torch.cat(self._bitmasks).to(logits.device)
                shifts = torch.arange(32, dtype=torch.int32, device=logits.device)
                allowed = ((words.unsqueeze(-1) >> shifts) & 1).bool().view(batch_size, -1)
                return logits.masked_fill(~allowed[:, : logits.shape[1]], -torch.inf)

        _EAGER_PROCESSOR_CLASS = EagerOutlinesCoreLogitsProcessor
    return _EAGER_PROCESSOR_CLASS


def chat_messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """A request's messages in the chat-template form processors take (images as placeholders)."""
    return [
        {
            "role": message.role,
            "content": [
                {"type": "text", "text": part.text} if isinstance(part, TextPart) else {"type": "image"}
                for part in message.content
                if isinstance(part, TextPart | ImagePart)
            ],
        }
        for message in request.messages
    ]


def _default_device() -> str:
    """CUDA when available, else the CPU (torch is imported only when no device is named, so a
    backend made with ``device=`` costs nothing until it loads)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _error(message: str) -> Generation:
    return Generation(text="", finish_reason="error", error=message)


class _ContextOverflow(Exception):
    """Some prompts of a batch do not fit the context: their messages (None for the others)."""

    def __init__(self, errors: list[str | None]):
        super().__init__("context overflow")
        self.errors = errors


def context_error(prompt_tokens: int | str, max_tokens: int, context_length: int) -> str:
    """Why a request does not fit: it names the prompt's tokens, max_tokens and the context."""
    return (f"the prompt ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) exceeds the model's "
            f"context length of {context_length} tokens; shorten the prompt or lower max_tokens")


def context_length_of(config: Any, tokenizer: Any) -> int | None:
    """A model's context window: ``max_position_embeddings`` of its text config (or of itself),
    else the tokenizer's ``model_max_length`` when it is a real limit (not transformers' 1e30)."""
    for part in (getattr(config, "text_config", None), config):
        value = getattr(part, "max_position_embeddings", None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < 10**7 else None


def _native_layout(folder: str) -> str:
    """The image layout a model folder declares in ``skillgap.json`` (real MLLMs: ``free``)."""
    card = Path(folder) / "skillgap.json"
    if not card.is_file():
        return "free"
    return str(json.loads(card.read_text()).get("layout", "free"))


def _folder_digest(folder: str) -> str:
    """``sha256:`` of a model folder's config and weight files (names and bytes), 16 hex digits."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.suffix in (".safetensors", ".bin") or path.name == "config.json":
            digest.update(path.name.encode() + b"\0")
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return "sha256:" + digest.hexdigest()[:16]


def _size_bucket(ref: Any) -> int:
    """log2 of an image's pixel count, read from its header (no decoding); -1 if unreadable."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(ref.read_bytes())) as image:
            width, height = image.size
    except Exception:  # the batch reports the unreadable image; here it only needs a key
        return -1
    return round(math.log2(max(1, width * height)))


def _resolve_model(
    model: str | Path, *, revision: str | None = None, local_files_only: bool = True
) -> tuple[str, bool]:
    """Return ``(source, is_local)``; a path-like argument must be a folder with a config.json.

    With ``local_files_only``, a hub id resolves to its snapshot folder in the local Hugging Face
    cache without any network call, or fails at once when it is not cached (otherwise loading
    would retry the hub for minutes on an offline GPU node).
    """
    text = str(model)
    path = Path(text).expanduser()
    if not _path_like(model):
        if not local_files_only:
            return text, False
        return _cached_snapshot(text, revision), True
    if not path.is_dir():
        raise ValueError(f"model folder not found: {path}")
    if not (path / "config.json").is_file():
        raise ValueError(f"model folder {path} has no config.json (not a save_pretrained folder)")
    return str(path.resolve()), True


def _path_like(model: str | Path) -> bool:
    text = str(model)
    return isinstance(model, Path) or text.startswith((".", "/", "~")) or Path(text).expanduser().exists()


def _cached_snapshot(repo_id: str, revision: str | None) -> str:
    """The local snapshot folder of a hub model, from the cache alone; a clear error if absent."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.constants import HF_HUB_CACHE

    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except ValueError as exc:  # not a valid repo id either
        raise ValueError(f"model {repo_id!r} is neither a folder nor a hub id: {exc}") from None
    if not isinstance(found, str):
        raise ValueError(
            f"model {repo_id!r} is not in the local Hugging Face cache ({HF_HUB_CACHE}) and skillgap "
            f"does not download models by default; fetch it where there is network "
            f"(`hf download {repo_id}`, then copy the cache or set HF_HOME), or pass a local folder"
        )
    return str(Path(found).parent)


__all__ = ["TransformersBackend"]


def from_registry(model: str | None = None, **options: Any) -> TransformersBackend:
    """The ``transformers`` entry of the backend registry (default: the embedded tiny model)."""
    from ._default_model import default_model_path

    return TransformersBackend(model or default_model_path(), **options)


#: ``skillgap eval`` runs this backend in a worker process (``ProcessBackend``): its imports and
#: weight loading then overlap the eval's own start. Any registered factory may say the same.
from_registry.worker_process = True  # type: ignore[attr-defined]
