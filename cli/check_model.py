"""``skillgap check-model``: will a long eval on this model be meaningful? Checks in about a minute.

Runs, through the transformers backend: load, chat template, image tokens in the rendered prompt,
a batch equal to single requests under greedy decoding, every task skill's constraint (full match,
not cut by the budget), and the chain-of-thought answer line; prints one row per check with a
verdict and, for each failure, a hint.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._model_options import add_model_options, model_options


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str  # "pass", "fail" or "skip"
    detail: str = ""
    hint: str = ""


def _short(text: str, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _run(backend: Any, requests: list[Any]) -> list[Any]:
    return list(asyncio.run(backend.generate(requests)))


def run_checks(model: str | None, *, device: str | None = None, layout: str | None = None,
               **options: Any) -> list[Check]:
    """Every check on ``model`` (default: the embedded tiny model); never raises for a model fault."""
    from ..backends._transformers import TransformersBackend, from_registry

    checks: list[Check] = []
    started = time.perf_counter()
    try:
        backend = (from_registry(model, device=device, batch_wait_s=0.0, **options) if model is None
                   else TransformersBackend(model, device=device, batch_wait_s=0.0, **options))
        backend.load()
    except Exception as exc:  # every load failure is a verdict, with its own message as the hint
        return [Check("load", "fail", f"{type(exc).__name__}: {exc}", _load_hint(exc))]
    checks.append(Check("load", "pass", f"{type(backend._model).__name__}, {backend.dtype} on "
                        f"{backend.device} in {time.perf_counter() - started:.1f}s"))
    try:
        checks += check_backend(backend, layout or backend.native_layout)
    finally:
        backend.close()
    return checks


def check_backend(backend: Any, layout: str) -> list[Check]:
    """The checks after loading, on a loaded ``TransformersBackend`` (left open): chat template,
    image tokens, batched = single, each task skill's constraint and the CoT answer line."""
    steps: list[Callable[[Any, str], Check]] = [_chat_template, _image_tokens, _batched_equals_single]
    return [*(_guarded(step, backend, layout) for step in steps), *_constraints(backend, layout)]


def _load_hint(exc: BaseException) -> str:
    text = str(exc)
    if "not in the local Hugging Face cache" in text:
        return "download the model where there is network, or pass --allow-download"
    if "optional package" in text:
        return "install the package named above"
    if "trust_remote_code" in text or "remote code" in text:
        return "the model needs its own code from the hub: not supported (use a transformers-native family)"
    return "check that MODEL is a save_pretrained folder or a cached hub id of an image-text-to-text model"


def _guarded(step: Callable[[Any, str], Check], backend: Any, layout: str) -> Check:
    try:
        return step(backend, layout)
    except Exception as exc:
        name = step.__name__.strip("_").replace("_", " ")
        return Check(name, "fail", _short(f"{type(exc).__name__}: {exc}", 200),
                     "see the error; rerun with the same model in Python to get the traceback")


def _samples(layout: str) -> list[Any]:
    from ..tasks import builtin_task_names, generate

    return [generate(task, 1, seed=11, layout=layout)[0] for task in builtin_task_names()]


def _request(text: str, image: Any = None, **options: Any) -> Any:
    from ..backends import GenerationRequest, ImagePart, Message, TextPart

    parts: tuple[Any, ...] = (TextPart(text=text),) + ((ImagePart(image=image),) if image else ())
    return GenerationRequest(messages=(Message(content=parts),), **options)


def _chat_template(backend: Any, layout: str) -> Check:
    template = getattr(backend._processor, "chat_template", None)
    if not template:
        return Check("chat template", "fail", "the processor has no chat template",
                     "add chat_template.jinja to the model folder (skillgap renders every prompt with it)")
    return Check("chat template", "pass", f"{len(template)} characters")


def _image_tokens(backend: Any, layout: str) -> Check:
    processor = backend._processor
    image = _samples(layout)[0].image
    prompt = backend._render(_request("What is in the image?", image))
    inputs = processor(text=[prompt], images=[[image.load()]], return_tensors="pt",
                       add_special_tokens=False)
    # The token the model replaces with image features; Molmo2's processor expands its <|image|>
    # placeholder into patch tokens of another id, so the processor's own id is not enough.
    token_id = getattr(backend._model.config, "image_token_id", None)
    if token_id is None:
        token_id = getattr(processor, "image_token_id", None)
    if token_id is None:
        return Check("image tokens", "fail", "neither the model config nor the processor declares "
                     "an image_token_id", "set image_token in the tokenizer's special tokens")
    count = int((inputs["input_ids"] == token_id).sum())
    if count == 0:
        return Check("image tokens", "fail", f"no image token in {_short(prompt)!r}",
                     "the chat template must write the image placeholder for {'type': 'image'} parts")
    return Check("image tokens", "pass", f"{count} image tokens for one image")


def _batched_equals_single(backend: Any, layout: str) -> Check:
    samples = _samples(layout)
    prompts = ["What is in the image?", "Read the text in the image.", "Count the objects.",
               "Describe the image in one short sentence."]
    requests = [_request(text, samples[i % len(samples)].image, max_tokens=8)
                for i, text in enumerate(prompts)]
    batched = _run(backend, requests)
    singles = [_run(backend, [one])[0] for one in requests]
    errors = [g.error for g in [*batched, *singles] if g.error]
    if errors:
        return Check("batched = single", "fail", _short(errors[0], 200),
                     "the processor rejected a batch: report the family (images are passed one "
                     "list per prompt)")
    differ = [i for i, (a, b) in enumerate(zip(batched, singles, strict=True)) if a.text != b.text]
    sizes = sorted({g.batch_size for g in batched})
    if differ:
        i = differ[0]
        return Check("batched = single", "fail",
                     f"{len(differ)}/4 differ, e.g. {batched[i].text!r} vs {singles[i].text!r}",
                     "padding changes predictions (pad token, attention mask or position ids); "
                     "use --batch-size 1 until fixed")
    return Check("batched = single", "pass", f"4 greedy outputs equal (batch sizes {sizes})")


def _constraints(backend: Any, layout: str) -> list[Check]:
    from ..skills import ParseFailure
    from ..tasks import get_task

    cases: list[tuple[str, Any, dict[str, Any]]] = []
    for sample in _samples(layout):
        composition = get_task(sample.task).composition
        image_inputs = {composition.visual.image_inputs[0]: sample.image}
        cases.append((composition.visual.name, composition.visual, image_inputs))
        if sample.intermediate is not None:
            cases.append((composition.textual.name, composition.textual,
                          {composition.bind: sample.intermediate, **sample.inputs}))
        cases.append((f"cot parse ({sample.task})", composition.cot_skill(),
                      {**image_inputs, **sample.inputs}))
    checks = []
    try:
        generations = _run(backend, [skill.request(inputs) for _, skill, inputs in cases])
    except Exception as exc:
        return [Check("constraints", "fail", _short(f"{type(exc).__name__}: {exc}", 200),
                      "constrained decoding failed for this tokenizer; run evals with --unconstrained")]
    for (label, skill, _), generation in zip(cases, generations, strict=True):
        name = label if label.startswith("cot") else f"constraint {label}"
        pattern = skill.constraint().pattern
        if generation.error:
            checks.append(Check(name, "fail", _short(generation.error, 200),
                                "constrained decoding failed; run evals with --unconstrained"))
        elif generation.finish_reason != "stop":
            checks.append(Check(name, "fail", f"cut at {generation.output_tokens} tokens: "
                                f"{generation.text!r}", "the token budget is too small for this "
                                "tokenizer: raise the skill's max_tokens"))
        elif pattern and not re.fullmatch(pattern, generation.text):
            checks.append(Check(name, "fail", f"{generation.text!r} does not match {pattern}",
                                "the tokenizer's token strings disagree with its decoding"))
        elif isinstance(skill.parse(generation.text), ParseFailure):
            checks.append(Check(name, "fail", f"{generation.text!r} does not parse",
                                "the answer line is not where the parser looks"))
        else:
            checks.append(Check(name, "pass", f"{generation.text!r} ({generation.output_tokens} tokens)"))
    return checks


def format_checks(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = [f"{'check':<{width}}  verdict  detail", f"{'-' * width}  -------  ------"]
    for check in checks:
        detail = check.detail if check.verdict == "fail" else _short(check.detail, 90)
        lines.append(f"{check.name:<{width}}  {check.verdict:<7}  {detail}")
        if check.verdict == "fail" and check.hint:
            lines.append(f"{'':<{width}}  {'':<7}  hint: {check.hint}")
    failed = [check.name for check in checks if check.verdict == "fail"]
    verdict = ("OK: evals on this model will measure the model, not the plumbing" if not failed
               else f"NOT READY: {len(failed)} check(s) failed ({', '.join(failed)})")
    return "\n".join([*lines, "", verdict])


def _check_model(args: argparse.Namespace) -> int:
    checks = run_checks(args.model, device=args.device, layout=args.layout, **model_options(args))
    print(format_checks(checks))
    return 0 if all(check.verdict != "fail" for check in checks) else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cm = sub.add_parser("check-model", help="check that a model runs correctly under skillgap "
                        "(chat template, image tokens, batching, constraints, CoT)")
    cm.add_argument("model", nargs="?", default=None,
                    help="hub id (from the local cache) or local folder (default: the embedded model)")
    cm.add_argument("--device", default=None)
    cm.add_argument("--layout", choices=["grid", "free"], default=None,
                    help="image layout of the test samples (default: the model's native layout)")
    add_model_options(cm)
    cm.set_defaults(func=_check_model)
