"""``witryna bench``: sequential page-view latency against a running stack.

Timings are reported next to a floor measured in the same run (``GET /healthz``: the
HTTP round trip alone), so that a slower machine shows the same ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import httpx
from msgspec import Struct

from bench import cpu as bench_cpu
from bench import inference as bench_inference
from bench import load as bench_load
from bench import plot as bench_plot
from bench import profile as bench_profile
from bench.machine import machine
from service.cli.keys import generate
from service.cli.progress import progress
from service.model.manifest import current_artefact, read_manifest
from service.schema import PageType
from service.settings import Settings
from service.storage.server import RedisServer, free_port

WARM_UP = 50


SERVER_CPU = 0


def _on_server_core() -> None:
    os.sched_setaffinity(0, {SERVER_CPU})


class LocalStack(Struct, frozen=True):
    url: str
    redis_pid: int
    keys: Keys


class Keys(Struct, frozen=True):
    """The keys the benchmark calls with: the site key on the storefront's routes, as
    witryna.js does, and the secret key for what else it reads."""

    site: str = ""
    secret: str = ""

    @classmethod
    def generated(cls) -> Keys:
        made = generate()
        return cls(made["WITRYNA_SITE_KEYS"], made["WITRYNA_SECRET_KEYS"])

    @classmethod
    def of(cls, settings: Settings) -> Keys:
        return cls(next(iter(settings.site_key_list), ""), next(iter(settings.secret_key_list), ""))

    def on(self, url: str) -> str:
        """``url`` with the site key as its query, for the load generator."""
        return f"{url}?key={self.site}" if self.site else url


@contextmanager
def local_stack(settings: Settings) -> Iterator[LocalStack]:
    """A private Redis and one server worker on loopback, both on one core, stopped afterwards.

    The load comes from another process on the other core, as a storefront's would.
    """
    keys = Keys.generated()
    with RedisServer() as redis:
        os.sched_setaffinity(redis.pid, {SERVER_CPU})
        port = free_port()
        env = {
            # The load comes from one address at saturation, far past any shopper's, over a
            # few visitor ids: no limits, unless the environment asks for them to be measured.
            "WITRYNA_RATE_PER_ADDRESS": "0",
            "WITRYNA_RATE_PER_VISITOR": "0",
            **os.environ,
            "WITRYNA_SITE_KEYS": keys.site,
            "WITRYNA_SECRET_KEYS": keys.secret,
            "WITRYNA_REDIS_URL": redis.url,
            "WITRYNA_LOG_LEVEL": "WARNING",
            "WITRYNA_BENCH_ROUTES": "1",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(port)],
            env=env,
            preexec_fn=_on_server_core,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, server)
            yield LocalStack(url, redis.pid, keys)
        finally:
            server.terminate()
            server.wait(timeout=10)


def wait_ready(url: str, server: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout_s:.0f} s")


def page_views(items: list[str], visitors: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    page_types = get_args(PageType)
    while True:
        page_type = rng.choice(page_types)
        page: dict[str, Any] = {"type": page_type}
        if page_type == "product":
            page["item_id"] = rng.choice(items)
        yield {"visitor_id": f"bench-{rng.randrange(visitors)}", "page": page}


def timed(label: str, count: int, call: Callable[[], httpx.Response]) -> list[float]:
    for _ in range(WARM_UP):
        call()
    latencies = []
    for _ in progress(range(count), desc=label, total=count, unit="req"):
        start = time.perf_counter()
        response = call()
        latencies.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    return {
        "median_ms": statistics.median(latencies),
        "p99_ms": bench_load.percentiles(latencies)["p99_ms"],
        "mean_ms": statistics.fmean(latencies),
    }


def measure(url: str, args: argparse.Namespace, items: list[str], keys: Keys) -> dict[str, Any]:
    bodies = page_views(items, args.visitors, args.seed)
    site = {"key": keys.site} if keys.site else {}
    with httpx.Client(base_url=url, timeout=5.0) as client:
        floor = timed("floor GET /healthz", args.requests, lambda: client.get("/healthz"))
        decision = timed(
            "POST /v1/page-views",
            args.requests,
            lambda: client.post("/v1/page-views", params=site, json=next(bodies)),
        )
        secret = {"Authorization": f"Bearer {keys.secret}"}
        ready = client.get("/readyz", headers=secret).json()
    full, base = summary(decision), summary(floor)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "model_version": ready["model_version"],
        "provider": ready["provider"],
        "requests": args.requests,
        "page_view": full,
        "floor_healthz": base,
        "ratio_median": full["median_ms"] / base["median_ms"],
        "ratio_p99": full["p99_ms"] / base["p99_ms"],
    }


def report(result: dict[str, Any]) -> str:
    full, base = result["page_view"], result["floor_healthz"]
    lines = [
        "# Witryna benchmark",
        "",
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
        f"GPUs: {', '.join(result['machine'].get('gpus', [])) or 'none'}, "
        f"{result['machine']['system']}; model {result['model_version']} on "
        f"{result['provider']}; {result['when']}",
        "",
        f"## Sequential page views ({result['requests']} requests, one client)",
        "",
        "| endpoint | median ms | p99 ms |",
        "|---|---|---|",
        f"| POST /v1/page-views | {full['median_ms']:.3f} | {full['p99_ms']:.3f} |",
        f"| GET /healthz (floor) | {base['median_ms']:.3f} | {base['p99_ms']:.3f} |",
        f"| ratio | {result['ratio_median']:.2f}x | {result['ratio_p99']:.2f}x |",
    ]
    if "load" in result:
        lines += [
            "",
            "## Under load (server and Redis on core 0, open-loop load generator on core 1)",
            "",
            "Latency is measured from each request's scheduled send time. The floor",
            "(`POST /v1/floor`) does one Redis round trip and one model run, nothing else.",
            "Saturation is measured for twice the run time, page views and the floor taking",
            "turns in six slices, so that the shared machine's drift falls on both alike,",
            f"with {bench_load.SATURATING_CONNECTIONS} requests in flight: its p99 is queueing.",
            "",
            *bench_load.table(result["load"]),
            "",
            f"Saturation throughput, page views / floor: **{result['saturation_ratio']:.2f}**"
            f" (each round of adjacent slices: {_spread(result['slice_ratios'])})",
        ]
        cpu = bench_load.cpu_table(result["load"])
        if cpu:
            note = "CPU per request at saturation, by psutil: the worker's threads and Redis."
            lines += ["", note, "", *cpu]
    if "profile" in result:
        lines += ["", "## Where the time goes (page views at saturation)", "",
                  *bench_profile.table(result["profile"])]  # fmt: skip
    if result.get("inference"):
        lines += ["", "## Inference: micro-batched against unbatched", "",
                  *bench_inference.table(result["inference"])]  # fmt: skip
    return "\n".join([*lines, ""])


def _spread(ratios: list[float]) -> str:
    return f"{min(ratios):.2f} to {max(ratios):.2f}, median {statistics.median(ratios):.2f}"


def cpu_meter(url: str, redis_pid: int | None) -> bench_cpu.CpuMeter | None:
    """A meter on the server's one worker, when it runs on this machine with one worker."""
    parent = bench_profile.server_pid(int(url.rsplit(":", 1)[1]))
    workers = bench_profile.worker_pids(parent) if parent is not None else []
    return bench_cpu.CpuMeter(workers[0], redis_pid) if len(workers) == 1 else None


def measure_all(
    url: str, args: argparse.Namespace, items: list[str], keys: Keys, redis_pid: int | None = None
) -> dict[str, Any]:
    result = measure(url, args, items, keys)
    if args.rates is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as bodies:
            generator = page_views(items, args.visitors, args.seed)
            bodies.writelines(json.dumps(next(generator)) + "\n" for _ in range(5000))
        meter = cpu_meter(url, redis_pid)
        runs = bench_load.load_runs(
            keys.on(url), Path(bodies.name), args.rates, args.seconds, meter=meter
        )
        result["load"] = runs
        result["saturation_ratio"] = bench_load.saturation_ratio(runs)
        result["slice_ratios"] = bench_load.slice_ratios(runs)
        if args.profile:
            result["profile"] = profile(url, keys, Path(bodies.name), args.seconds)
        os.unlink(bodies.name)
    return result


def profile(url: str, keys: Keys, bodies: Path, seconds: float) -> dict[str, Any]:
    """py-spy on the server worker while page views saturate it."""
    port = int(url.rsplit(":", 1)[1])
    parent = bench_profile.server_pid(port)
    if parent is None:
        raise RuntimeError(f"no `witryna serve --port {port}` on this machine to profile")
    raw = Path(tempfile.mkdtemp()) / "profile.txt"
    spy = bench_profile.record(bench_profile.worker_pid(parent), seconds, raw)
    bench_load.drive(keys.on(url), bench_load.PAGE_VIEWS, bodies, 0.0, seconds)
    spy.join(timeout=seconds + 30)
    return bench_profile.summarise(raw)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    manifest = read_manifest(current_artefact(Path(settings.models_dir), settings.model_name))
    items = manifest.items[:500]
    if args.url:
        result = measure_all(args.url.rstrip("/"), args, items, Keys.of(settings))
    else:
        with local_stack(settings) as stack:
            result = measure_all(stack.url, args, items, stack.keys, stack.redis_pid)
    if args.inference_models is not None and args.inference_models.is_dir():
        result["inference"] = bench_inference.compare(
            args.inference_models, args.inference_seconds, settings.ort_threads, settings.device
        )
    text = report(result)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"bench-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    if "load" in result:
        title = f"witryna bench, {result['machine']['cpu']}, {result['when']}"
        svg, _ = bench_plot.draw(result["load"], title, args.out / f"bench-{stamp}")
        text += f"\n![Latency by offered load, and CPU per request]({svg.name})\n"
    (args.out / f"bench-{stamp}.md").write_text(text)
    return 0
