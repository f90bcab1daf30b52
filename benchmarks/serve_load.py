"""Serving load: ``skillgap serve`` (mock backend, which decodes every image) under 1, 16 and 64
concurrent clients of the official ``openai`` SDK, each request carrying a 224x224 PNG.

Prints requests/s and p50/p99 latency per level, the server's peak resident memory, and what the
worst single requests cost it (a body just under the 32 MiB limit; eight images at the pixel cap).
The last line is the throughput at 64 clients over 1 client.

    python benchmarks/serve_load.py [--requests 300] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from skillgap.serve import serve_process


@dataclass
class Load:
    clients: int
    sent: int
    answered: int
    failures: list[str]
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@contextmanager
def serve(*args: str, api_key: str | None = None) -> Iterator[tuple[str, int, list[str]]]:
    """``skillgap serve --port 0 ARGS`` as a subprocess: yields (API root, pid, output lines)."""
    env = {"SKILLGAP_SERVE_API_KEY": api_key} if api_key else None
    with serve_process(*args, env=env) as server:
        yield server.url, server.process.pid, server.output


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident memory so far (``VmHWM``), in MiB."""
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def png_data_url(side: int = 224, noise: bool = True) -> str:
    from PIL import Image

    image = Image.effect_noise((side, side), 64).convert("RGB") if noise else Image.new("RGB", (side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


async def drive(url: str, clients: int, requests: int, image: str, api_key: str = "none",
                timeout_s: float = 120.0) -> Load:
    """``requests`` chat completions with ``image`` from ``clients`` concurrent SDK clients."""
    from openai import AsyncOpenAI

    todo = iter(range(requests))
    latencies: list[float] = []
    failures: list[str] = []
    messages = [{"role": "user", "content": [{"type": "text", "text": "How many red objects?"},
                                             {"type": "image_url", "image_url": {"url": image}}]}]

    async def client_loop() -> None:
        # One SDK client per simulated user; the SDK retries 429 after the server's Retry-After.
        client = AsyncOpenAI(base_url=url, api_key=api_key, max_retries=8, timeout=timeout_s)
        try:
            for _ in todo:
                started = time.perf_counter()
                try:
                    answer = await client.chat.completions.create(
                        model="mock", messages=messages, max_tokens=4, temperature=0)  # type: ignore[arg-type]
                    assert answer.choices[0].finish_reason in ("stop", "length")
                    latencies.append(time.perf_counter() - started)
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}"[:300])
        finally:
            await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return Load(clients, requests, len(latencies), failures, time.perf_counter() - started, latencies)


def worst_single_requests(api_key: str = "none") -> dict[str, float]:
    """Peak server memory (MiB) before and after each of the worst requests it accepts."""
    import httpx

    results: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {api_key}"}
    with serve("--backend", "mock", "--served-model-name", "mock", "--log-level", "warning",
               api_key=api_key) as (url, pid, _):
        httpx.post(url + "/chat/completions", headers=headers, timeout=60, json={
            "model": "mock", "messages": [{"role": "user", "content": "warm up"}]})
        results["idle"] = peak_rss_mib(pid)
        text = "7 " * (15 * 2**20)  # 30 MiB of text, under the 32 MiB body limit
        answer = httpx.post(url + "/chat/completions", headers=headers, timeout=120, json={
            "model": "mock", "messages": [{"role": "user", "content": text}]})
        results["30 MiB text"] = peak_rss_mib(pid)
        results["30 MiB text status"] = answer.status_code
        big = png_data_url(4096, noise=False)  # at the 4096x4096 pixel cap, 48 MiB decoded
        answer = httpx.post(url + "/chat/completions", headers=headers, timeout=120, json={
            "model": "mock", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": big}} for _ in range(8)]}]})
        results["8 images at the pixel cap"] = peak_rss_mib(pid)
        results["8 images status"] = answer.status_code
        over = httpx.post(url + "/chat/completions", headers=headers, timeout=120,
                          content=b"x" * (40 * 2**20))
        results["40 MiB body (refused)"] = peak_rss_mib(pid)
        results["40 MiB body status"] = over.status_code
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="requests per level")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    image = png_data_url()
    key = "bench-key"
    rates: dict[int, float] = {}
    with serve("--backend", "mock", "--served-model-name", "mock", "--batch-size", str(args.batch_size),
               "--log-level", "warning", api_key=key) as (url, pid, _):
        asyncio.run(drive(url, 4, 20, image, key))  # warm up
        for clients in (1, 16, 64):
            load = asyncio.run(drive(url, clients, args.requests, image, key))
            rates[clients] = load.per_second
            print(f"{clients:>2} clients: {load.per_second:7.1f} requests/s, p50 "
                  f"{load.percentile(0.5) * 1000:6.1f} ms, p99 {load.percentile(0.99) * 1000:6.1f} ms, "
                  f"{load.answered}/{load.sent} answered, {len(load.failures)} failed")
        print(f"server peak memory under load: {peak_rss_mib(pid):.0f} MiB")
    for name, value in worst_single_requests().items():
        print(f"worst single request, {name}: {value:.0f}" + ("" if "status" in name else " MiB"))
    print(f"serve_load throughput 64 vs 1 clients ratio: {rates[64] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
