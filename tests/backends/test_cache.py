"""The model-call cache around the mock backend: hits, misses, what is never cached, persistence."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from skillgap.backends import (
    CachedBackend,
    Generation,
    GenerationRequest,
    ImagePart,
    ImageRef,
    Message,
    MockBackend,
    TextPart,
)
from skillgap.cli import main
from skillgap.evals import EvalConfig, load_samples, read_records, run_eval


def _request(text: str = "2+3?", **options: object) -> GenerationRequest:
    return GenerationRequest(messages=(Message(content=(TextPart(text=text),)),), **options)


def _echo(model_id: str = "m", **options: object) -> MockBackend:
    return MockBackend(handler=lambda request: request.messages[0].text.upper(), model_id=model_id,
                       **options)


def _run(backend: CachedBackend, requests: list[GenerationRequest]) -> list[Generation]:
    return asyncio.run(backend.generate(requests))


def test_miss_then_hit_keeps_the_original_latency(tmp_path: Path) -> None:
    inner = _echo()
    with CachedBackend(inner, tmp_path / "calls.sqlite") as cache:
        first = _run(cache, [_request()])[0]
        assert not first.cached and len(inner.requests) == 1
        second = _run(cache, [_request()])[0]
    assert second.cached and second.text == first.text == "2+3?".upper()
    assert second.latency_s == first.latency_s > 0
    assert len(inner.requests) == 1
    assert (cache.hits, cache.misses) == (1, 1)


def test_misses_are_forwarded_in_one_call_and_results_keep_their_order(tmp_path: Path) -> None:
    inner = _echo()
    with CachedBackend(inner, tmp_path / "calls.sqlite") as cache:
        _run(cache, [_request("b")])
        out = _run(cache, [_request("a"), _request("b"), _request("c"), _request("a")])
    assert [g.text for g in out] == ["A", "B", "C", "A"]
    assert [g.cached for g in out] == [False, True, False, True]  # the repeated "a" waited
    assert inner.batch_sizes == [1, 2]


def test_concurrent_identical_requests_reach_the_model_once(tmp_path: Path) -> None:
    inner = _echo(batch_wait_s=0.01)
    with CachedBackend(inner, tmp_path / "calls.sqlite") as cache:

        async def both() -> list[list[Generation]]:
            return list(await asyncio.gather(*(cache.generate([_request()]) for _ in range(5))))

        results = asyncio.run(both())
    assert len(inner.requests) == 1
    assert sum(not batch[0].cached for batch in results) == 1


def test_errors_are_not_cached(tmp_path: Path) -> None:
    inner = MockBackend(handler=lambda request: Generation(text="", finish_reason="error",
                                                           error="boom"))
    with CachedBackend(inner, tmp_path / "calls.sqlite") as cache:
        assert _run(cache, [_request()])[0].error == "boom"
        assert _run(cache, [_request()])[0].error == "boom"
        assert len(cache) == 0
    assert len(inner.requests) == 2


def test_unseeded_sampling_is_not_cached_but_seeded_sampling_is(tmp_path: Path) -> None:
    inner = _echo()
    with CachedBackend(inner, tmp_path / "calls.sqlite") as cache:
        for _ in range(2):
            _run(cache, [_request(temperature=0.7), _request(temperature=0.7, seed=1)])
    assert len(inner.requests) == 3


def test_a_different_model_does_not_hit_but_batching_knobs_do_not_matter(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    with CachedBackend(_echo("model-a", max_batch_size=4), path) as cache:
        _run(cache, [_request()])
    other, same = _echo("model-b"), _echo("model-a", max_batch_size=32, batch_wait_s=0.1)
    with CachedBackend(other, path) as cache_b, CachedBackend(same, path) as cache_a:
        assert not _run(cache_b, [_request()])[0].cached
        assert _run(cache_a, [_request()])[0].cached
    assert (len(other.requests), len(same.requests)) == (1, 0)


def test_images_are_keyed_by_content_and_the_file_is_wal_sqlite(tmp_path: Path) -> None:
    image = Image.new("RGB", (8, 8), "red")
    image.save(tmp_path / "a.png")
    image.save(tmp_path / "b.png")

    def with_image(path: Path) -> GenerationRequest:
        part = ImagePart(image=ImageRef.from_path(path))
        return GenerationRequest(messages=(Message(content=(TextPart(text="colour?"), part)),))

    inner = _echo()
    with CachedBackend(inner, tmp_path / "calls.sqlite") as cache:
        _run(cache, [with_image(tmp_path / "a.png")])
        assert _run(cache, [with_image(tmp_path / "b.png")])[0].cached
        Image.new("RGB", (8, 8), "blue").save(tmp_path / "b.png")
        assert not _run(cache, [with_image(tmp_path / "b.png")])[0].cached
    with sqlite3.connect(tmp_path / "calls.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM generations").fetchone()[0] == 2


def test_describe_and_layout_are_the_wrapped_backends(tmp_path: Path) -> None:
    inner = _echo("model-a")
    inner.native_layout = "grid"  # type: ignore[attr-defined]
    with CachedBackend(inner, tmp_path / "calls.sqlite") as cache:
        assert cache.describe() == inner.describe()
        assert (cache.name, cache.model_id, cache.native_layout) == ("mock", "model-a", "grid")
    with CachedBackend(_echo(), tmp_path / "calls.sqlite") as cache:
        assert getattr(cache, "native_layout", "free") == "free"
    with pytest.raises(RuntimeError, match="closed"):
        _run(cache, [_request()])


def _answering(samples_by_key: dict[tuple[str, str], tuple[str, str]]) -> MockBackend:
    """Answers every step correctly from the gold labels of the samples."""

    def handler(request: GenerationRequest) -> str:
        skill, task, sample_id = (request.metadata[k] for k in ("skill", "task", "sample_id"))
        intermediate, answer = samples_by_key[(task, sample_id)]
        if skill in ("read_expression", "list_objects", "read_cards"):
            return intermediate
        if skill.endswith(".cot"):
            return f"{intermediate}\nAnswer: {answer}"
        return answer

    return MockBackend(handler=handler)


def test_a_rerun_into_a_new_folder_is_served_from_the_cache(tmp_path: Path) -> None:
    config = EvalConfig(n=3, seed=5)
    samples = load_samples(config)
    labels = {(s.task, s.id): (s.intermediate or "", s.answer) for s in samples}
    first_inner, second_inner = _answering(labels), _answering(labels)
    with CachedBackend(first_inner, tmp_path / "calls.sqlite") as cache:
        first = run_eval(config, cache, tmp_path / "a", samples=samples, show_progress=False)
    with CachedBackend(second_inner, tmp_path / "calls.sqlite") as cache:
        second = run_eval(config, cache, tmp_path / "b", samples=samples, show_progress=False)
    assert first_inner.requests and not second_inner.requests
    for task, entry in first.tasks.items():  # wall times (router costs) differ, results not
        other = second.tasks[task]
        assert (entry.strategies, entry.skill_stats, entry.gap) == (
            other.strategies, other.skill_stats, other.gap), task
    predictions = {r.key(): r.prediction for r in read_records(tmp_path / "a")}
    assert predictions == {r.key(): r.prediction for r in read_records(tmp_path / "b")}


def test_the_visual_step_is_shared_between_strategies_and_the_skill_measurement(
    tmp_path: Path,
) -> None:
    samples = load_samples(EvalConfig(n=2, seed=6))
    labels = {(s.task, s.id): (s.intermediate or "", s.answer) for s in samples}
    inner = _answering(labels)
    with CachedBackend(inner, tmp_path / "calls.sqlite") as cache:
        run_eval(EvalConfig(n=2, seed=6, strategies=["cascaded"], skills=False), cache,
                 tmp_path / "a", samples=samples, show_progress=False)
        before = len(inner.requests)
        run_eval(EvalConfig(n=2, seed=6, strategies=["direct"], skills=True), cache,
                 tmp_path / "b", samples=samples, show_progress=False)
    # Only direct is new: the visual skill alone repeats cascaded's first call, and (the visual
    # answers being right) the textual skill on the gold intermediate repeats its second.
    new_skills = [r.metadata["skill"] for r in inner.requests[before:]]
    assert sorted(new_skills) == sorted(f"{s.task}.direct" for s in samples)


def test_cli_cache_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SKILLGAP_CACHE", str(tmp_path / "home"))
    base = ["eval", "--backend", "mock", "--n", "2", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "home" / "calls.sqlite").is_file()
    assert " 0 hits, " in capsys.readouterr().out
    assert main([*base, "--out", str(tmp_path / "b")]) == 0
    assert " hits, 0 model calls" in capsys.readouterr().out
    assert main([*base, "--out", str(tmp_path / "c"), "--cache", str(tmp_path / "x.sqlite")]) == 0
    assert (tmp_path / "x.sqlite").is_file()
    assert main([*base, "--out", str(tmp_path / "d"), "--no-cache"]) == 0
    assert "call cache" not in capsys.readouterr().out.split("x.sqlite")[-1]
