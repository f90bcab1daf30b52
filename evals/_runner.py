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
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends._sync import run_sync
from ..backends._types import Backend
from ..graphs import Strategy, get_strategy, list_strategies, skill_steps
from ..graphs._compiled import CompiledGraph, GraphInputError, GraphResult
from ..skills._formats import render_value
from ..tasks import composition, get_task
from ..tasks._datasets import SampleError
from ..tasks._sample import Sample
from ..telemetry import _spans as spans
from ._config import EvalConfig, check_config, config_differences
from ._records import RecordLog, SampleRecord
from ._routing import check_held_out, is_routed, route_record, routed_graphs, router_path
from ._summary_model import Summary

if TYPE_CHECKING:
    from ..graphs._routed import RoutedGraph


def _check(config: EvalConfig) -> None:
    check_config(config)


def _graphs(task: str, config: EvalConfig | None = None) -> dict[str, CompiledGraph | RoutedGraph]:
    comp = composition(task)
    graphs: dict[str, CompiledGraph | RoutedGraph] = {
        s.name: s.build(comp).compile() for s in list_strategies(None)
    }
    graphs.update(routed_graphs(task, config) if config is not None else {})
    return graphs


def own_question(sample: Sample) -> str | None:
    """The sample's question when it is not its task's template (a dataset row's own question)."""
    try:
        template: str | None = get_task(sample.task).question_for(sample.inputs)
    except (KeyError, IndexError, ValueError):
        template = None
    return None if sample.question == template else sample.question


class _Graphs:
    """Compiled graphs by task and step. A sample asking its own question (a dataset row's) gets
    the composition strategies built from its task's composition with that question, so direct
    asks it and chain-of-thought puts it inside its instruction; cached by question."""

    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self._by_task: dict[str, dict[str, CompiledGraph | RoutedGraph]] = {}
        self._asked: dict[tuple[str, str, str], CompiledGraph | RoutedGraph] = {}
        self._routers: dict[str, Any] = {}

    def get(self, sample: Sample, step: str) -> CompiledGraph | RoutedGraph:
        if sample.task not in self._by_task:
            self._by_task[sample.task] = _graphs(sample.task, self.config)
        default = self._by_task[sample.task][step]
        question = own_question(sample)
        if question is None:
            return default
        key = (sample.task, question, step)
        if key not in self._asked:
            self._asked[key] = self._build(sample.task, question, step, default)
        return self._asked[key]

    def _build(self, task: str, question: str, step: str,
               default: CompiledGraph | RoutedGraph) -> CompiledGraph | RoutedGraph:
        # Braces in a row's text are literal, not input placeholders.
        literal = question.replace("{", "{{").replace("}", "}}")
        comp = replace(composition(task), question=literal)
        if is_routed(step):
            from ..graphs._routed import routed
            from ..routers._files import load_router

            if step not in self._routers:
                self._routers[step] = load_router(router_path(self.config, step))
            return routed(comp, self._routers[step])
        strategy = get_strategy(step)
        if strategy.measures != "composition":  # a skill alone never asks the composed question
            return default
        return strategy.build(comp).compile()


def _registered(step: str) -> Strategy | None:
    """The registered strategy of a step (None for ``routed:...`` steps)."""
    return None if is_routed(step) else get_strategy(step)


def _judged_on_intermediate(step: str) -> bool:
    found = _registered(step)
    return found is not None and found.judged_on == "intermediate"


def _inputs(sample: Sample, step: str) -> dict[str, Any]:
    found = _registered(step)
    if found is not None and found.feeds_intermediate:  # e.g. the textual skill alone
        bind = composition(sample.task).bind
        return {bind: sample.intermediate, **sample.inputs}
    return {"image": sample.image, **sample.inputs}


def _same(text: str | None, gold: str | None) -> bool:
    return text is not None and gold is not None and text.strip() == gold.strip()


def score(sample: Sample, step: str, result: GraphResult) -> SampleRecord:
    """Turn a graph result into a record; a step judged on the intermediate (the visual skill
    alone) is scored against the gold intermediate."""
    if _judged_on_intermediate(step):  # the visual skill's output is the intermediate itself
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


def _from_node(sample: Sample, step: str, node: str, result: GraphResult) -> SampleRecord:
    """The record of measurement ``step`` read from ``node`` of another strategy's result."""
    ran = result.nodes[node]
    only = GraphResult(graph=step, nodes={node: ran}, answer_node=node, latency_s=ran.latency_s)
    return score(sample, step, only)


def _failed(sample: Sample, step: str, error: str) -> SampleRecord:
    return SampleRecord(task=sample.task, sample_id=sample.id, strategy=step,
                        image_id=sample.image_id or None, prediction=None, raw=None, correct=False,
                        gold=(sample.intermediate or "") if _judged_on_intermediate(step)
                        else sample.answer,
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
    skill_only = set(skill_steps())
    return [step for step in steps if step not in skill_only]


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
    graphs = _Graphs(config)
    gate = asyncio.Semaphore(config.concurrency)
    steps = config.steps()
    # A measurement that is a node of another strategy (the cascade's first step is the visual
    # skill alone) is recorded from that strategy's run instead of being run again.
    reuses: dict[str, list[tuple[str, str]]] = {}
    for measured in list_strategies("skill"):
        if measured.reused_from is not None and {measured.name, measured.reused_from[0]} <= set(steps):
            source, node = measured.reused_from
            reuses.setdefault(source, []).append((measured.name, node))
    reused = {name: source for source, pairs in reuses.items() for name, _ in pairs}

    async def attempt(sample: Sample, step: str) -> list[SampleRecord]:
        shared = [(name, node) for name, node in reuses.get(step, ())
                  if sample.intermediate is not None and (sample.task, sample.id, name) not in done]
        try:
            result = await graphs.get(sample, step).arun(
                _inputs(sample, step), backend, constrained=config.constrained,
                metadata={"task": sample.task, "sample_id": sample.id, "strategy": step},
            )
        except GraphInputError as exc:  # a bad sample is recorded, the run goes on
            failed = [_failed(sample, step, f"bad input: {exc}")]
            for name, _ in shared:
                failed += await attempt(sample, name)
            return failed
        records = [score(sample, step, result)]
        records += [_from_node(sample, name, node, result) for name, node in shared]
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
            if step in reused and (sample.task, sample.id, reused[step]) not in done:
                continue  # comes with the run of the strategy it is a node of
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


def prepare_out(
    out: str | Path, config: EvalConfig, backend: Backend, *, overwrite: bool = False
) -> RecordLog:
    """Create or reopen ``out``; a folder holding a different run is refused (naming the fields
    that differ), not mixed, unless ``overwrite`` (which deletes the old run first)."""
    out = Path(out).expanduser()
    run_file = out / "run.json"
    if overwrite and out.exists():
        if not run_file.exists() and any(out.iterdir()):
            raise ValueError(f"{out} is not empty and holds no skillgap run (no run.json); "
                             "refusing to overwrite it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    described = backend.describe()
    if run_file.exists():
        previous = json.loads(run_file.read_text())
        differ = config_differences(previous.get("config"), config.model_dump()) + (
            config_differences(previous.get("backend"), described, "backend."))
        if differ:
            raise ValueError(
                f"{out} holds another run, which differs in {'; '.join(differ)} (saved -> now). "
                "Resume it with the same settings, replace it with --overwrite "
                "(overwrite=True), or leave out --out to start a new run folder"
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
    """The samples ``config`` names: generated, or the usable rows of a dataset."""
    return [item for item in load_items(config) if isinstance(item, Sample)]


def load_items(config: EvalConfig) -> list[Sample | SampleError]:
    """The samples of every task (each from its own source: its generator, or its dataset; or all
    from ``config.dataset``), with a dataset's bad rows kept as :class:`SampleError`."""
    from ..tasks import generate, load_dataset, select

    tasks = check_config(config)
    if config.dataset is not None:
        return select(load_dataset(config.dataset), [task.name for task in tasks], config.n)
    items: list[Sample | SampleError] = []
    for task in tasks:
        if task.generator is not None:
            items += generate(task.name, config.n, seed=config.seed, layout=config.layout)
        elif task.dataset is not None:
            items += select(load_dataset(task.dataset, task=task.name), [task.name], config.n)
    return items


def run_eval(
    config: EvalConfig,
    backend: Backend,
    out: str | Path,
    *,
    samples: Sequence[Sample | SampleError] | None = None,
    show_progress: bool = True,
    overwrite: bool = False,
) -> Summary:
    """Run (or resume) an eval into ``out`` and write ``summary.json``; returns the summary.

    Reports are rendered by :func:`skillgap.reports.write_run_report` (``skillgap.evaluate`` and
    ``skillgap eval`` do both).

    ``samples`` defaults to what ``config`` names; bad dataset rows (:class:`SampleError`) among
    them are recorded as failed samples and listed in ``dataset_errors.jsonl``. ``out`` holding
    another run is refused unless ``overwrite``. Works inside a running event loop (Jupyter).
    """
    from ._summary import summarize

    out = Path(out).expanduser()
    _check(config)
    items = list(samples) if samples is not None else load_items(config)
    errors = [item for item in items if isinstance(item, SampleError)]
    good = [item for item in items if isinstance(item, Sample)]
    check_held_out(config, good)
    log = prepare_out(out, config, backend, overwrite=overwrite)
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
            run_sync(run_samples(good, backend, log, config, bar, run))
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
    # The installed version, not the root package's: evals sit below skillgap.evaluate's layer.
    version = _versions().get("skillgap", "")
    digest = hashlib.sha256(f"{version}\n{model}\n".encode())
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
