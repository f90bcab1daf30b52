"""The fleet backend against real HTTP servers on 127.0.0.1 that fail in chosen ways (no model)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from fault_server import FaultServer

from skillgap.backends import (
    FleetBackend,
    Generation,
    GenerationRequest,
    Message,
    OpenAIBackend,
    TextPart,
    parse_endpoints,
)
from skillgap.backends._fleet import EndpointSpec


def _request(i: int) -> GenerationRequest:
    return GenerationRequest(messages=(Message(content=(TextPart(text=f"question {i}"),)),), seed=i)


def test_endpoints_come_from_a_comma_list_or_a_file(tmp_path: Path) -> None:
    assert parse_endpoints("http://a:1/v1, http://b:2/v1/,http://a:1/v1") == [
        EndpointSpec("http://a:1/v1"), EndpointSpec("http://b:2/v1")]
    listing = tmp_path / "fleet.txt"
    listing.write_text("# two GPUs\nhttp://a:1/v1 8\n\nhttps://b:2/v1  # default limit\n")
    assert parse_endpoints(str(listing)) == [EndpointSpec("http://a:1/v1", 8), EndpointSpec("https://b:2/v1")]
    listing.write_text("http://a:1/v1 many\n")
    with pytest.raises(ValueError, match=r"fleet.txt:1: expected 'URL' or 'URL CONCURRENCY'"):
        parse_endpoints(str(listing))
    with pytest.raises(ValueError, match="must be an http"):
        parse_endpoints("ftp://a/v1,http://b/v1")


def test_failing_and_stalled_endpoints_are_ejected_and_their_requests_answered_elsewhere() -> None:
    good = FaultServer(lambda key, attempt: "ok", answer="7")
    overloaded = FaultServer(lambda key, attempt: "503")
    stalled = FaultServer(lambda key, attempt: "stall", stall_s=3.0)
    with good.running() as ok_url, overloaded.running() as busy_url, stalled.running() as slow_url:
        dead_url = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
        fleet = FleetBackend.connect([slow_url, busy_url, dead_url, ok_url], timeout_s=0.5)
        assert fleet.model_id == "faulty"
        generations = asyncio.run(fleet.generate([_request(i) for i in range(12)]))
    assert [g.text for g in generations] == ["7"] * 12
    assert {g.served_by for g in generations} == {ok_url}
    status = {entry["url"]: entry for entry in fleet.status()}
    assert status[ok_url]["served"] == 12 and status[ok_url]["failures"] == 0
    for url in (slow_url, busy_url, dead_url):
        assert status[url]["failures"] >= 1 and status[url]["served"] == 0, status[url]
    # Each bad endpoint was ejected after its first failure, not hammered by every request.
    assert overloaded.actions["503"] <= 4


def test_a_refused_request_is_not_retried_on_other_replicas() -> None:
    refusing = FaultServer(lambda key, attempt: "401")
    good = FaultServer(lambda key, attempt: "ok")
    with refusing.running() as refusing_url, good.running() as ok_url:
        fleet = FleetBackend.connect([refusing_url, ok_url], "faulty")
        [generation] = asyncio.run(fleet.generate([_request(0)]))
    assert generation.error is not None and generation.error.startswith("HTTP 401")
    assert generation.served_by == refusing_url
    assert good.actions["ok"] == 0 and fleet.status()[0]["failures"] == 0


def test_all_endpoints_down_is_an_error_generation_naming_them() -> None:
    fleet = FleetBackend.connect("http://127.0.0.1:9/v1,http://127.0.0.1:7/v1", "m", eject_s=0.05,
                                 max_retries=2)
    [generation] = asyncio.run(fleet.generate([_request(0)]))
    assert generation.finish_reason == "error" and generation.error is not None
    assert "no endpoint answered after 3 attempts" in generation.error
    assert "127.0.0.1:9" in generation.error and "127.0.0.1:7" in generation.error


class _Timed(OpenAIBackend):
    """A real OpenAIBackend whose calls take a fixed time; counts how many it has at once."""

    def __init__(self, url: str):
        super().__init__("m", base_url=url)
        self.now = self.most = self.calls = 0

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.now += 1
        self.calls += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.02)
        self.now -= 1
        return [Generation(text="ok") for _ in requests]


def test_per_endpoint_limits_hold_and_the_least_loaded_endpoint_gets_the_next_request() -> None:
    small, big = _Timed("http://small:1/v1"), _Timed("http://big:1/v1")
    fleet = FleetBackend([small, big], limits=[1, 3])
    generations = asyncio.run(fleet.generate([_request(i) for i in range(24)]))
    assert all(g.text == "ok" for g in generations)
    assert small.most == 1 and big.most == 3
    assert small.calls + big.calls == 24 and big.calls >= 2 * small.calls
    assert fleet.describe()["fleet"] is True and "base_url" not in fleet.describe()


def test_skillgap_eval_takes_several_base_urls_as_a_fleet(tmp_path: Path) -> None:
    from skillgap.cli import main
    from skillgap.evals import read_records

    first, second = FaultServer(lambda key, attempt: "ok"), FaultServer(lambda key, attempt: "ok")
    with first.running() as one, second.running() as two:
        listing = tmp_path / "fleet.txt"
        listing.write_text(f"{one} 2\n{two}\n")
        out = tmp_path / "run"
        assert main(["eval", "--backend", "openai", "--base-url", str(listing), "--tasks", "counting",
                     "--strategies", "direct", "--no-skills", "--n", "4", "--no-cache", "--quiet",
                     "--out", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["backend"]["fleet"] is True and "base_url" not in run["backend"]
    served = {url for record in read_records(out) for url in (record.served_by or {}).values()}
    assert served <= {one, two} and len(read_records(out)) == 4
    assert main(["eval", "--replicas", "2", "--out", str(tmp_path / "x")]) == 2
