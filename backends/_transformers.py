"""The transformers backend: any Hugging Face image-text-to-text model, batched, optionally constrained.

Constrained decoding uses outlines' ``OutlinesCoreLogitsProcessor`` (outlines 1.3) inside our own
batched ``model.generate`` call, so constrained and free requests share one code path.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from ._batching import BatchingBackend
from ._types import Constraint, Generation, GenerationRequest, ImagePart, TextPart

_DTYPES = ("auto", "float32", "float16", "bfloat16")


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
        local_files_only: Never contact the hub; default True for local folders, else False.

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
    ):
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
        source, is_local = _resolve_model(model)
        super().__init__(source, max_batch_size=max_batch_size, batch_wait_s=batch_wait_s)
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype == "auto":
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        self.dtype = dtype
        # A local folder has no hub revision; its weights' digest stands in, so a retrained model at
        # the same path never reuses the call cache or resumes a run made with the old weights.
        self.revision = revision
        self.weights_digest = _folder_digest(source) if is_local else None
        self.trust_remote_code = trust_remote_code
        self.constrained = constrained
        self.local_files_only = is_local if local_files_only is None else local_files_only
        self.native_layout = _native_layout(source) if is_local else "free"
        self._requested_device = device
        self._load_lock = threading.Lock()
        self._model: Any = None
        self._processor: Any = None
        self._processors: dict[tuple[str, str], Any] = {}
        self._vocabulary: Any = None
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
        }

    def load(self) -> None:
        """Load the processor and model now (otherwise the first batch does it); idempotent."""
        with self._load_lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor

            common: dict[str, Any] = {
                "revision": self.revision,
                "trust_remote_code": self.trust_remote_code,
                "local_files_only": self.local_files_only,
            }
            processor = AutoProcessor.from_pretrained(self.model_id, **common)
            tokenizer = getattr(processor, "tokenizer", None)
            if tokenizer is None:
                raise ValueError(f"the processor of {self.model_id!r} has no tokenizer")
            # Left padding: every prompt ends where generation starts.
            tokenizer.padding_side = "left"
            model: Any = AutoModelForImageTextToText.from_pretrained(
                self.model_id,
                dtype=getattr(torch, self.dtype),
                use_safetensors=True,
                **common,
            )
            model.to(self.device)
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
            self._processor, self._model = processor, model

    def _generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        self.load()
        results: list[Generation | None] = [None] * len(requests)
        prompts: list[str] = []
        images: list[Any] = []
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
            prompts.append(prompt)
            images.extend(request_images)
            indices.append(index)
        if indices:
            generated = self._run(requests[indices[0]], prompts, images)
            for index, generation in zip(indices, generated, strict=True):
                results[index] = generation
        return [result for result in results if result is not None]

    def _render(self, request: GenerationRequest) -> str:
        prompt = self._processor.apply_chat_template(
            chat_messages(request), add_generation_prompt=True, tokenize=False
        )
        return str(prompt)

    def _run(self, request: GenerationRequest, prompts: list[str], images: list[Any]) -> list[Generation]:
        """One ``generate`` call for prompts that share ``request``'s batch key."""
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        inputs = self._processor(
            text=prompts,
            images=images or None,
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,  # the chat template already wrote them
        )
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(getattr(torch, self.dtype))
        sampling = request.temperature > 0
        config = GenerationConfig(
            max_new_tokens=request.max_tokens,
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

    def _constraint_processor(self, constraint: Constraint) -> Any:
        """The outlines logits processor for a constraint, built once (reset before each use)."""
        cache_key = (constraint.kind, constraint.key())
        processor = self._processors.get(cache_key)
        if processor is None:
            from outlines_core.json_schema import build_regex_from_schema

            if constraint.kind == "regex":
                assert constraint.pattern is not None
                regex = constraint.pattern
            else:
                regex = build_regex_from_schema(json.dumps(constraint.schema_))
            index = regex_index(regex, self._outlines_vocabulary())
            processor = _eager_processor_class()(index, "torch")
            self._processors[cache_key] = processor
        return processor

    def _outlines_vocabulary(self) -> Any:
        """The token → string map outlines needs, without special tokens other than EOS.

        Special tokens (``<pad>``, ``<image>``...) are left out so a constraint can never emit
        them: they would be stripped from the decoded text and break the match.
        """
        if self._vocabulary is None:
            from outlines.backends.outlines_core import OutlinesCoreBackend
            from outlines.models.transformers import TransformerTokenizer

            tokenizer = self._processor.tokenizer
            eos_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else self._eos_ids[0]
            eos_token = tokenizer.convert_ids_to_tokens(eos_id)
            special = set(tokenizer.all_special_ids) | {
                token_id
                for token_id, added in tokenizer.added_tokens_decoder.items()
                if added.special
            }
            special |= set(self._eos_ids)
            vocab = {
                token: token_id
                for token, token_id in tokenizer.get_vocab().items()
                if token_id not in special or token_id == eos_id
            }
            self._vocabulary = OutlinesCoreBackend.create_outlines_core_vocabulary(
                vocab, eos_id, eos_token, TransformerTokenizer(tokenizer).convert_token_to_string
            )
        return self._vocabulary


def regex_index(regex: str, vocabulary: Any) -> Any:
    """An outlines-core index that accepts exactly the full matches of ``regex``.

    The pattern is wrapped and anchored at its end: without the ``$``, outlines-core's index stops
    at the first full match, so ``6+3`` could never grow into ``6+3+5``, nor ``1`` into ``12``.
    """
    from outlines_core import Index

    return Index(f"(?:{regex})$", vocabulary)


#: Version of the constrained-decoding semantics; v2: full-match (anchored) regex indices.
CONSTRAINT_ENGINE = "outlines-core/full-match-v2"

_EAGER_PROCESSOR_CLASS: Any = None


def _eager_processor_class() -> Any:
    """outlines' ``OutlinesCoreLogitsProcessor`` with an eager, out-of-place masking step.

    The stock torch kernel is wrapped in ``torch.compile`` (about 20 s to compile on 2 CPU cores)
    and masks in place, which would also overwrite the raw logits ``generate`` returns, from which
    we compute log-probabilities.
    """
    global _EAGER_PROCESSOR_CLASS
    if _EAGER_PROCESSOR_CLASS is None:
        import torch
        from outlines.backends.outlines_core import OutlinesCoreLogitsProcessor
        from outlines_core.kernels.torch import fill_next_token_bitmask

        class EagerOutlinesCoreLogitsProcessor(OutlinesCoreLogitsProcessor):
            def _bias_logits_torch(self, batch_size: int, logits: Any) -> Any:
                for i in range(batch_size):
                    fill_next_token_bitmask(self._guides[i], self._bitmasks[i])
                words = torch.cat(self._bitmasks[:batch_size]).to(logits.device)
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


def _error(message: str) -> Generation:
    return Generation(text="", finish_reason="error", error=message)


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


def _resolve_model(model: str | Path) -> tuple[str, bool]:
    """Return ``(source, is_local)``; a path-like argument must be a folder with a config.json."""
    text = str(model)
    path = Path(text).expanduser()
    path_like = isinstance(model, Path) or text.startswith((".", "/", "~")) or path.exists()
    if not path_like:
        return text, False
    if not path.is_dir():
        raise ValueError(f"model folder not found: {path}")
    if not (path / "config.json").is_file():
        raise ValueError(f"model folder {path} has no config.json (not a save_pretrained folder)")
    return str(path.resolve()), True


__all__ = ["TransformersBackend"]


def from_registry(model: str | None = None, **options: Any) -> TransformersBackend:
    """The ``transformers`` entry of the backend registry (default: the embedded tiny model)."""
    from ._default_model import default_model_path

    return TransformersBackend(model or default_model_path(), **options)
