"""The suite runner: every sample × strategy through its graph, appended to ``samples.jsonl``.

Pairs already in the log are skipped, so rerunning the same command resumes a killed run. Besides
the strategies, each skill is measured alone: ``visual`` (against the gold intermediate; taken
from the cascaded run's first step when that runs) and ``textual`` (on the gold intermediate).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import platform
import subprocess
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..backends._types import Backend
from ..graphs import STRATEGIES, SkillGraph, strategy
from ..graphs._compiled import CompiledGraph, GraphInputError, GraphResult
from ..skills._formats import render_value
from ..tasks import composition
from ..tasks._datasets import SampleError
from ..tasks._sample import Sample
from ..telemetry import _spans as spans
from ._records import RecordLog, SampleRecord
from ._routing import check_held_out, check_routed, is_routed, route_record, routed_graphs
from ._summary_model import Summary

if TYPE_CHECKING:
    from ..graphs._routed import RoutedGraph

SKILL_STEPS = ("visual", "textual")


class EvalConfig(BaseModel):
    """Everything that decides a run's records; saved as ``run.json``."""

    tasks: list[str] = Field(default_factory=lambda: ["rendered_text", "counting", "cards"])
    strategies: list[str] = Field(default_factory=lambda: ["direct", "cascaded", "cot"])
    skills: bool = True
    n: int = Field(default=50, ge=1)
    seed: int = 1000
    layout: str = "grid"
    constrained: bool = True
    concurrency: int = Field(default=64, ge=1)
    #: A user dataset (JSONL file or saved Hugging Face dataset) instead of generated samples;
    #: ``n`` then caps the rows per task, and ``seed``/``layout`` are not used for loading.
    dataset: str | None = None
    #: Router files of ``routed:NAME`` strategies, by NAME (a ``routed:PATH`` needs no entry).
    routers: dict[str, str] = Field(default_factory=dict)

    def steps(self) -> list[str]:
        return [*self.strategies, *(SKILL_STEPS if self.skills else ())]


def _check(config: EvalConfig) -> None:
    for task in config.tasks:
        composition(task)
    unknown = [name for name in config.strategies if name not in STRATEGIES and not is_routed(name)]
    if unknown:
        raise ValueError(
            f"unknown strategy {unknown[0]!r}; choose from: {', '.join(STRATEGIES)}, routed:ROUTER_FILE"
        )
    check_routed(config)


def _graphs(task: str, config: EvalConfig | None = None) -> dict[str, CompiledGraph | RoutedGraph]:
    comp = composition(task)
    graphs: dict[str, CompiledGraph | RoutedGraph] = {
        name: strategy(name, comp).compile() for name in STRATEGIES
    }
    graphs.update(routed_graphs(task, config) if config is not None else {})
    graphs["visual"] = SkillGraph("visual").add("visual", comp.visual).compile()
    graphs["textual"] = SkillGraph("textual").add("textual", comp.textual).compile()
    return graphs


def _inputs(sample: Sample, step: str) -> dict[str, Any]:
    if step == "textual":
        bind = composition(sample.task).bind
        return {bind: sample.intermediate, **sample.inputs}
    return {"image": sample.image, **sample.inputs}


def _same(text: str | None, gold: str | None) -> bool:
    return text is not None and gold is not None and text.strip() == gold.strip()


def score(sample: Sample, step: str, result: GraphResult) -> SampleRecord:
    """Turn a graph result into a record; the visual step is judged on the intermediate."""
    if step == "visual":  # the visual skill's output is the intermediate itself
        prediction = inter_text = result.answer_text()
        gold = sample.intermediate or ""
    else:
        prediction = result.answer_text()
        inter_text = None if result.intermediate is None else render_value(result.intermediate)
        gold = sample.answer
    return SampleRecord(
        task=sample.task,
        sample_id=sample.id,
        strategy=step,
        image_id=sample.image_id or None,
        prediction=prediction,
        raw=result.raw,
        correct=_same(prediction, gold),
        gold=gold,
        intermediate=inter_text,
        gold_intermediate=sample.intermediate,
        intermediate_correct=None if inter_text is None else _same(inter_text, sample.intermediate),
        error=result.error,
        format_failure=result.parse_failure,
        latency_s=round(result.latency_s, 6),
        tokens={"input": result.input_tokens, "output": result.output_tokens},
        calls=result.calls,
        logprob=result.nodes[result.answer_node].logprob,
        difficulty=sample.difficulty,
        route=route_record(result),
        served_by={name: node.served_by for name, node in result.nodes.items()
                   if node.served_by is not None} or None,
    )


def _visual_from_cascaded(sample: Sample, result: GraphResult) -> SampleRecord:
    node = result.nodes["visual"]
    only = GraphResult(graph="visual", nodes={"visual": node}, answer_node="visual",
                       latency_s=node.latency_s)
    return score(sample, "visual", only)


def _failed(sample: Sample, step: str, error: str) -> SampleRecord:
    return SampleRecord(task=sample.task, sample_id=sample.id, strategy=step,
                        image_id=sample.image_id or None, prediction=None, raw=None, correct=False,
                        gold=(sample.intermediate or "") if step == "visual" else sample.answer,
                        error=error,
                        gold_intermediate=sample.intermediate, difficulty=sample.difficulty)


def record_bad_rows(errors: Sequence[SampleError], log: RecordLog, config: EvalConfig) -> int:
    """Record each bad dataset row of a known task as a failed record of every step (once: a
    resumed run skips them); returns how many records were written."""
    done = log.done()
    written = 0
    for error in errors:
        if error.task is None or error.id is None:
            continue  # no task to count it against; listed in dataset_errors.jsonl only
        for step in config.steps():
            if (error.task, error.id, step) in done:
                continue
            log.append(SampleRecord(task=error.task, sample_id=error.id, strategy=step,
                                    prediction=None, raw=None, correct=False, gold="",
                                    error=f"bad dataset row {error.row}: {error.message}"))
            written += 1
    return written


def applicable_steps(sample: Sample, steps: Sequence[str]) -> list[str]:
    """The skill steps need a gold intermediate; a dataset row without one runs only strategies."""
    if sample.intermediate is not None:
        return list(steps)
    return [step for step in steps if step not in SKILL_STEPS]


async def run_samples(
    samples: Sequence[Sample],
    backend: Backend,
    log: RecordLog,
    config: EvalConfig,
    progress: Any = None,
    run: spans.RunTrace | None = None,
) -> None:
    """Run every missing (sample, step) pair; records are appended as each finishes. With
    ``run`` (tracing on), each pair is a trace of its own, linked to the run's."""
    done = log.done()
    graphs = {task: _graphs(task, config) for task in {sample.task for sample in samples}}
    gate = asyncio.Semaphore(config.concurrency)
    steps = config.steps()
    # The cascaded run's first step is the visual skill alone: record it instead of re-running.
    shared_visual = "cascaded" in steps and "visual" in steps

    async def attempt(sample: Sample, step: str) -> list[SampleRecord]:
        wants_visual = (
            step == "cascaded" and shared_visual and sample.intermediate is not None
            and (sample.task, sample.id, "visual") not in done
        )
        try:
            result = await graphs[sample.task][step].arun(
                _inputs(sample, step), backend, constrained=config.constrained,
                metadata={"task": sample.task, "sample_id": sample.id, "strategy": step},
            )
        except GraphInputError as exc:  # a bad sample is recorded, the run goes on
            failed = [_failed(sample, step, f"bad input: {exc}")]
            return failed + (await attempt(sample, "visual") if wants_visual else [])
        records = [score(sample, step, result)]
        if wants_visual:
            records.append(_visual_from_cascaded(sample, result))
        return spans.score_records(step, records)

    async def one(sample: Sample, step: str) -> None:
        async with gate:
            with spans.sample_span(sample, step, _inputs(sample, step), run) as span:
                records = spans.finish_sample(span, await attempt(sample, step))
            for record in records:
                log.append(record)
                if progress is not None:
                    progress.update(1)

    jobs = []
    for sample in samples:
        for step in applicable_steps(sample, steps):
            if (sample.task, sample.id, step) in done:
                continue
            if step == "visual" and shared_visual and (sample.task, sample.id, "cascaded") not in done:
                continue  # comes with the cascaded run
            jobs.append(one(sample, step))
    await asyncio.gather(*jobs)


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("skillgap", "torch", "transformers", "outlines", "langgraph", "pydantic"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def prepare_out(out: Path, config: EvalConfig, backend: Backend) -> RecordLog:
    """Create or reopen ``out``; a folder holding a different run is refused, not mixed."""
    out.mkdir(parents=True, exist_ok=True)
    run_file = out / "run.json"
    described = backend.describe()
    if run_file.exists():
        previous = json.loads(run_file.read_text())
        if previous.get("config") != config.model_dump() or previous.get("backend") != described:
            raise ValueError(
                f"{out} holds a run with a different config or model; "
                "use another --out folder (or delete this one) to start a new run"
            )
    else:
        run = {
            "config": config.model_dump(),
            "backend": described,
            "versions": _versions(),
            "git_revision": _git_revision(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(),
        }
        run_file.write_text(json.dumps(run, indent=2))
    return RecordLog(out / "samples.jsonl")


def load_samples(config: EvalConfig) -> list[Sample]:
    """The samples ``config`` names: generated, or the usable rows of ``config.dataset``."""
    from ..tasks._generators import generate

    _check(config)
    if config.dataset is not None:
        return [item for item in load_items(config) if isinstance(item, Sample)]
    return [
        sample
        for task in config.tasks
        for sample in generate(task, config.n, seed=config.seed, layout=config.layout)
    ]


def load_items(config: EvalConfig) -> list[Sample | SampleError]:
    """Like :func:`load_samples`, with a dataset's bad rows kept as :class:`SampleError`."""
    if config.dataset is None:
        return list(load_samples(config))
    from ..tasks._datasets import load_dataset, select

    _check(config)
    return select(load_dataset(config.dataset), config.tasks, config.n)


def run_eval(
    config: EvalConfig,
    backend: Backend,
    out: Path,
    *,
    samples: Sequence[Sample | SampleError] | None = None,
    show_progress: bool = True,
) -> Summary:
    """Run (or resume) an eval into ``out`` and write ``summary.json``; returns the summary.

    Reports are rendered by :func:`skillgap.reports.write_run_report` (``skillgap.evaluate`` and
    ``skillgap eval`` do both).

    ``samples`` defaults to what ``config`` names; bad dataset rows (:class:`SampleError`) among
    them are recorded as failed samples and listed in ``dataset_errors.jsonl``.
    """
    from ._summary import summarize

    _check(config)
    items = list(samples) if samples is not None else load_items(config)
    errors = [item for item in items if isinstance(item, SampleError)]
    good = [item for item in items if isinstance(item, Sample)]
    check_held_out(config, good)
    log = prepare_out(out, config, backend)
    if errors:
        (out / "dataset_errors.jsonl").write_text(
            "".join(error.model_dump_json() + "\n" for error in errors), encoding="utf-8"
        )
    total = sum(len(applicable_steps(sample, config.steps())) for sample in good)
    total += sum(e.task is not None for e in errors) * len(config.steps())
    try:
        record_bad_rows(errors, log, config)
        from tqdm.auto import tqdm

        with spans.run_span(config.model_dump(), backend.describe(), run_id=spans.run_id(out),
                            out=out) as run, tqdm(
            total=total, initial=len(log.done()), desc="eval", unit="pair", disable=not show_progress
        ) as bar:
            asyncio.run(run_samples(good, backend, log, config, bar, run))
            run.finish(log.records)
    finally:
        log.close()
    model = str(backend.describe().get("model"))
    fingerprint = _records_fingerprint(out / "samples.jsonl", model)
    unchanged = _up_to_date_summary(out, fingerprint)
    if unchanged is not None:  # a rerun of a finished eval: nothing new to summarise or plot
        return unchanged
    summary = summarize(log.records, model=model, dataset_errors=len(errors)).model_copy(
        update={"records_fingerprint": fingerprint})
    summary.write(out / "summary.json")
    return summary


def _records_fingerprint(log_file: Path, model: str) -> str:
    """What a summary and report were computed from: the log's bytes, the model and the code."""
    from .. import __version__

    digest = hashlib.sha256(f"{__version__}\n{model}\n".encode())
    with contextlib.suppress(FileNotFoundError), log_file.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _up_to_date_summary(out: Path, fingerprint: str) -> Summary | None:
    """The saved summary when it was computed from exactly these records (and can be read)."""
    try:
        saved = Summary.read(out / "summary.json")
    except (FileNotFoundError, ValueError):  # missing, or another schema version: recompute
        return None
    return saved if saved.records_fingerprint == fingerprint else None
