"""User datasets: a JSONL file with images beside it, or a Hugging Face dataset saved to disk.

Each row becomes a :class:`Sample`, or a :class:`SampleError` naming the row and what is wrong with
it (a missing field, a wrong type, an unknown task, an image that cannot be read or decoded), so
one bad row is recorded and the rest of the run goes on.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ..backends._types import ImageRef
from ..skills import ParseFailure
from ..skills._formats import TextFormat
from ._sample import Sample
from ._task import TASKS, Task

REQUIRED = ("image", "answer", "task")
_BASE64 = re.compile(r"[A-Za-z0-9+/\s]+={0,2}")


class SampleError(BaseModel):
    """A dataset row that could not become a sample. ``row`` counts from 1 (the JSONL line number).

    ``task`` and ``id`` are set when the row names a known task (and an id), so the runner can
    record the row as a failed sample of that task.
    """

    model_config = ConfigDict(frozen=True)

    source: str
    row: int
    message: str
    task: str | None = None
    id: str | None = None

    def __str__(self) -> str:
        return f"{self.source}: row {self.row}: {self.message}"


class RowError(ValueError):
    """Why one row is unusable (internal: turned into a :class:`SampleError`)."""


def load_dataset(path: str | Path, *, task: str | None = None) -> list[Sample | SampleError]:
    """Load a dataset: a ``.jsonl`` file, or a folder written by ``datasets.Dataset.save_to_disk``.

    Rows have ``image`` (a path relative to the JSONL file, an absolute path, base64, or a
    ``data:`` URI; in a Hugging Face dataset also an ``Image`` feature), ``answer``, ``task`` (a
    registered task; ``task=`` gives rows without one), and optionally ``question`` (the row's own
    question, asked by the direct and CoT strategies; default: the task's template),
    ``intermediate`` (gold output of the visual skill), ``inputs`` (the task's textual inputs, e.g.
    ``{"query": "red"}``) and ``id`` (default ``row-000001``...).

    Every row is checked at load against its task's types: each image is decoded, the inputs must
    be exactly the task's and of their declared types, and the answer and intermediate must parse
    as the skills' outputs; a row that does not fit is a :class:`SampleError` saying why.

    Raises:
        ValueError: the path is neither a JSONL file nor a saved dataset, or ``datasets`` is missing.

    Example:
        >>> items = load_dataset("data/counting.jsonl")  # doctest: +SKIP
        >>> samples = [item for item in items if isinstance(item, Sample)]  # doctest: +SKIP
    """
    path = Path(path).expanduser()
    if path.is_dir():
        rows = _hf_rows(path)
    elif path.is_file():
        rows = _jsonl_rows(path)
    else:
        raise ValueError(f"dataset not found: {path}")
    return list(_samples(str(path), path if path.is_dir() else path.parent, rows, task))


def select(
    items: Sequence[Sample | SampleError], tasks: Sequence[str], n: int | None = None
) -> list[Sample | SampleError]:
    """Keep rows of ``tasks`` (errors without a known task are always kept), at most ``n`` per task
    in dataset order (bad rows count towards ``n``)."""
    taken: dict[str, int] = {}
    kept: list[Sample | SampleError] = []
    for item in items:
        task = item.task
        if task is None:
            kept.append(item)
            continue
        if task not in tasks or (n is not None and taken.get(task, 0) >= n):
            continue
        taken[task] = taken.get(task, 0) + 1
        kept.append(item)
    return kept


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, RowError(f"not valid JSON: {exc}")


def _hf_rows(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        import datasets
    except ImportError:
        raise ValueError(
            f"{path} is a folder: reading a saved Hugging Face dataset needs the `datasets` "
            "package (pip install datasets)"
        ) from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError as exc:
        raise ValueError(f"{path} is not a dataset saved with save_to_disk: {exc}") from None
    if isinstance(loaded, datasets.DatasetDict):
        splits = ", ".join(loaded)
        raise ValueError(
            f"{path} holds several splits ({splits}); pass one split's folder, e.g. {path}/test"
        )
    if isinstance(loaded.features.get("image"), datasets.Image):
        # Keep the encoded bytes: decoding to PIL and re-encoding would cost time and fidelity.
        loaded = loaded.cast_column("image", datasets.Image(decode=False))
    yield from enumerate(loaded, 1)


def _samples(
    source: str, base: Path, rows: Iterable[tuple[int, Any]], default_task: str | None
) -> Iterator[Sample | SampleError]:
    seen: set[tuple[str, str]] = set()
    for number, row in rows:
        if default_task is not None and isinstance(row, Mapping) and row.get("task") is None:
            row = {**row, "task": default_task}
        task = row.get("task") if isinstance(row, Mapping) else None
        known = task if isinstance(task, str) and task in TASKS else None
        given_id = row.get("id") if isinstance(row, Mapping) else None
        sample_id = str(given_id) if isinstance(given_id, str | int) and given_id != "" else None
        sample_id = sample_id or f"row-{number:06d}"
        if known is not None and (known, sample_id) in seen:
            # Not counted against the task: its records would collide with the first row's.
            message = f"duplicate id {sample_id!r} for task {known!r}"
            yield SampleError(source=source, row=number, message=message)
            continue
        try:
            if isinstance(row, RowError):
                raise row
            sample = _sample(row, sample_id, base)
        except RowError as exc:
            if known is not None:
                seen.add((known, sample_id))
            yield SampleError(source=source, row=number, message=str(exc), task=known,
                              id=sample_id if known else None)
            continue
        seen.add((sample.task, sample.id))
        yield sample


def _sample(row: Any, sample_id: str, base: Path) -> Sample:
    if not isinstance(row, Mapping):
        raise RowError(f"a row must be a JSON object, got {type(row).__name__}")
    missing = [name for name in REQUIRED if row.get(name) is None]
    if missing:
        raise RowError(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
    name = _text(row, "task")
    if name not in TASKS:
        raise RowError(f"unknown task {name!r}; choose from: {', '.join(TASKS)}")
    task = TASKS[name]
    answer = _text(row, "answer", numbers=True)
    intermediate = None if row.get("intermediate") is None else _text(row, "intermediate")
    inputs = row.get("inputs") or {}
    if not isinstance(inputs, Mapping) or not all(isinstance(key, str) for key in inputs):
        raise RowError(f"field 'inputs' must be an object of named inputs, got {inputs!r}")
    # A saved dataset unifies struct columns: inputs other rows have are None in this one.
    inputs = {key: value for key, value in inputs.items() if value is not None}
    _check_types(task, inputs, answer, intermediate)
    question = task.question_for(inputs) if row.get("question") is None else _text(row, "question")
    image = _image(row["image"], base)
    try:
        image.load()  # a corrupt image is this row's error, not a failure in the middle of a run
    except ValueError as exc:
        raise RowError(str(exc)) from None
    return Sample(
        id=sample_id,
        task=name,
        image=image,
        question=question,
        answer=answer,
        intermediate=intermediate,
        inputs=dict(inputs),
        image_id=image.digest()[:16],
    )


def _check_types(task: Task, inputs: Mapping[str, Any], answer: str, intermediate: str | None) -> None:
    """The row must fit the task's skills: its textual inputs, answer and intermediate."""
    comp = task.composition
    wanted = {name: tp for name, tp in comp.inputs.items() if tp is not ImageRef}
    missing = [name for name in wanted if name not in inputs]
    unknown = [name for name in inputs if name not in wanted]
    if missing or unknown:
        parts = ([f"missing input(s) {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"unknown input(s) {', '.join(map(repr, unknown))}"] if unknown else [])
        takes = ", ".join(wanted) or "none"
        raise RowError(f"{'; '.join(parts)} for task {task.name!r} (it takes: {takes})")
    for name, tp in wanted.items():
        _check_value(f"input {name!r}", tp, inputs[name])
    for field_name, text, skill in (("answer", answer, comp.textual),
                                    ("intermediate", intermediate, comp.visual)):
        if text is None:
            continue
        parsed = skill.parse(text)
        if isinstance(parsed, ParseFailure):
            raise RowError(f"field {field_name!r} {text!r} is not a {skill.name} output: "
                           f"{parsed.reason}")


def _check_value(where: str, tp: Any, value: Any) -> None:
    try:
        if isinstance(tp, type) and issubclass(tp, TextFormat) and isinstance(value, str):
            tp.parse(value)  # text forms are accepted where their type is expected
        else:
            TypeAdapter(tp).validate_python(value)
    except ValidationError as exc:
        raise RowError(f"{where} {value!r} does not fit type {getattr(tp, '__name__', tp)}: "
                       f"{exc.errors()[0]['msg']}") from None
    except ValueError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RowError(f"{where} {value!r} does not fit type {getattr(tp, '__name__', tp)}: "
                       f"{detail}") from None


def _text(row: Mapping[str, Any], name: str, *, numbers: bool = False) -> str:
    value = row[name]
    if isinstance(value, str):
        return value
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    wanted = "a string or an integer" if numbers else "a string"
    raise RowError(f"field {name!r} must be {wanted}, got {type(value).__name__} {value!r}")


def _image(value: Any, base: Path) -> ImageRef:
    """An image given as a path, a ``data:`` URI, base64 text, or encoded bytes."""
    if isinstance(value, Mapping):  # a Hugging Face Image feature read without decoding
        data, where = value.get("bytes"), value.get("path")
        if data:
            return ImageRef.from_bytes(bytes(data))
        if where:
            return _image(str(where), base)
        raise RowError("field 'image' holds neither bytes nor a path")
    if isinstance(value, bytes):
        return ImageRef.from_bytes(value)
    if not isinstance(value, str) or not value:
        raise RowError(f"field 'image' must be a path, base64 text or a data: URI, got {value!r}")
    if value.startswith("data:"):
        try:
            return ImageRef.from_bytes(ImageRef(uri=value).read_bytes())
        except ValueError as exc:
            raise RowError(str(exc)) from None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if path.is_file():
        return ImageRef.from_path(path.resolve())
    if len(value) >= 32 and _BASE64.fullmatch(value):
        try:
            image = ImageRef.from_bytes(base64.b64decode(value, validate=False))
            image.load()
            return image
        except (binascii.Error, ValueError):
            raise RowError(
                f"image file not found: {path} (nor is the text a base64-encoded image)"
            ) from None
    raise RowError(f"image file not found: {path}")


__all__ = ["SampleError", "load_dataset", "select"]
