"""``witryna bench``: sequential page-view latency against a running stack.

Timings are reported next to a floor measured in the same run (``GET /healthz``: the
HTTP round trip alone), so that a slower machine shows the same ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import auth as bench_auth
from bench import catalogues as bench_catalogues
from bench import curve as bench_curve
from bench import inference as bench_inference
from bench import load as bench_load
from bench import plot as bench_plot
from bench import profile as bench_profile
from bench import scaling as bench_scaling
from bench import scaling_report as bench_scaling_report
from bench.journeys import page_views
from bench.machine import machine
from bench.stack import Keys, cpu_meter, local_stack
from service.cli.progress import progress
from service.errors import ConfigError
from service.model.manifest import current_artefact, read_manifest
from service.settings import Settings

WARM_UP = 50


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
            f" (each round of adjacent slices: {_spread(result['slice_ratios'])}), counting "
            "personalised page views only: a degraded answer runs no model.",
        ]
        if "curve" in result:
            lines += ["", bench_curve.line(result["curve"])]
        cpu = bench_load.cpu_table(result["load"])
        if cpu:
            note = "CPU per request at saturation, by psutil: the worker's threads and Redis."
            lines += ["", note, "", *cpu]
    if "workers" in result:
        lines += ["", *bench_scaling_report.section(result["workers"])]
    if "catalogues" in result:
        lines += ["", *bench_catalogues.section(result["catalogues"])]
    if "auth" in result:
        lines += ["", *bench_auth.section(result["auth"])]
    if "profile" in result:
        lines += ["", "## Where the time goes (page views at saturation)", "",
                  *bench_profile.table(result["profile"])]  # fmt: skip
    if result.get("inference"):
        lines += ["", "## Inference: micro-batched against unbatched", "",
                  *bench_inference.table(result["inference"])]  # fmt: skip
    return "\n".join([*lines, ""])


def _spread(ratios: list[float]) -> str:
    return f"{min(ratios):.2f} to {max(ratios):.2f}, median {statistics.median(ratios):.2f}"


def measure_all(
    url: str, args: argparse.Namespace, items: list[str], keys: Keys, redis_pid: int | None = None
) -> dict[str, Any]:
    result = measure(url, args, items, keys)
    if args.rates is not None:
        bodies = bodies_file(items, args)
        meter = cpu_meter(url, redis_pid)
        runs = bench_load.load_runs(keys.on(url), bodies, args.rates, args.seconds, meter=meter)
        result["load"] = runs
        result["saturation_ratio"] = bench_load.saturation_ratio(runs)
        result["slice_ratios"] = bench_load.slice_ratios(runs)
        if bench_curve.points(runs):
            result["curve"] = bench_curve.verdict(runs)
        if args.profile:
            result["profile"] = profile(url, keys, bodies, args.seconds)
        os.unlink(bodies)
    return result


def bodies_file(items: list[str], args: argparse.Namespace) -> Path:
    """Page views for the load generator, one JSON body a line; the caller removes it."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as bodies:
        generator = page_views(items, args.visitors, args.seed)
        bodies.writelines(json.dumps(next(generator)) + "\n" for _ in range(5000))
    return Path(bodies.name)


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
    if args.url and args.auth_overhead:
        raise ConfigError("--auth-overhead starts two services of its own: leave out --url")
    if args.url and (args.workers or args.catalogues):
        raise ConfigError("--workers and --catalogues start services of their own: leave out --url")
    if args.url:
        result = measure_all(args.url.rstrip("/"), args, items, Keys.of(settings))
    else:
        with local_stack(settings) as stack:
            result = measure_all(stack.url, args, items, stack.keys, stack.redis_pid)
    if args.auth_overhead:
        bodies = bodies_file(items, args)
        result["auth"] = bench_auth.compare(
            settings, bodies, args.auth_pairs, args.auth_rounds, args.seconds, args.auth_rate
        )
        os.unlink(bodies)
    if args.workers:
        bodies = bodies_file(items, args)
        result["workers"] = bench_scaling.compare(
            settings, bodies, args.workers, args.seconds * 2 / args.workers_rounds,
            args.workers_rounds,
        )  # fmt: skip
        os.unlink(bodies)
    if args.catalogues is not None:
        result["catalogues"] = bench_catalogues.compare(
            settings, args.catalogues, args.seconds * 2 / args.catalogue_rounds,
            args.catalogue_rounds, args.visitors, args.seed,
        )  # fmt: skip
    if args.inference_models is not None and args.inference_models.is_dir():
        result["inference"] = bench_inference.compare(
            args.inference_models, args.inference_seconds, settings.ort_threads, settings.device
        )
    text = report(result)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"bench-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    title = f"witryna bench, {result['machine']['cpu']}, {result['when']}"
    if "load" in result:
        svg, _ = bench_plot.draw(result["load"], title, args.out / f"bench-{stamp}")
        text += f"\n![Latency by offered load, and CPU per request]({svg.name})\n"
    if "curve" in result:
        svg, _ = bench_curve.draw(result["load"], title, args.out / f"bench-{stamp}-curve")
        text += f"\n![p50 and p99 by offered load as a share of saturation]({svg.name})\n"
    if "workers" in result:
        svg, _ = bench_scaling_report.draw(
            result["workers"], title, args.out / f"bench-{stamp}-workers"
        )
        text += f"\n![Page views at saturation by workers]({svg.name})\n"
    if "auth" in result:
        svg, _ = bench_plot.draw_auth(result["auth"], title, args.out / f"bench-{stamp}-auth")
        text += f"\n![Page views with the site key and without auth]({svg.name})\n"
    (args.out / f"bench-{stamp}.md").write_text(text)
    return 0
