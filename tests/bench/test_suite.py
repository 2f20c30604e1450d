from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.auth import NO_AUTH, SITE_KEY
from bench.plot import AUTH_BAR_ID
from tests._support.stack import KEYS_ENV, ROOT, Service

SVG = "{http://www.w3.org/2000/svg}"


def test_bench_reports_latency_against_its_floor(
    service: Service, tmp_path: Path, command_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "bench", "--url", service.url,
         "--requests", "60", "--rates", "100", "--seconds", "2", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**command_env, **KEYS_ENV, "WITRYNA_MODELS_DIR": str(ROOT / "models")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "POST /v1/page-views" in result.stdout
    (report,) = tmp_path.glob("bench-*.json")
    figures = json.loads(report.read_text())
    assert figures["requests"] == 60
    assert 0 < figures["page_view"]["median_ms"] <= figures["page_view"]["p99_ms"]
    assert figures["ratio_median"] == (
        figures["page_view"]["median_ms"] / figures["floor_healthz"]["median_ms"]
    )
    runs = {(run["path"], run["rate"]): run for run in figures["load"]}
    assert set(runs) == {
        ("/v1/page-views", 100.0), ("/v1/floor", 100.0),
        ("/v1/page-views", "saturation"), ("/v1/floor", "saturation"),
    }  # fmt: skip
    assert all(run["errors"] == 0 and run["throughput"] > 0 for run in runs.values())
    # Personalised answers: a degraded one (default content) runs no model.
    pages = runs["/v1/page-views", "saturation"]
    assert pages["personalised"] <= pages["throughput"]
    assert figures["saturation_ratio"] == (
        pages["personalised"] / runs["/v1/floor", "saturation"]["personalised"]
    )
    pv, floor = (runs[path, "saturation"]["slices"] for path in ("/v1/page-views", "/v1/floor"))
    assert len(pv) == len(floor) == 6
    assert figures["slice_ratios"] == [a / b for a, b in zip(pv, floor, strict=True)]
    spread = sorted(figures["slice_ratios"])
    assert f"each round of adjacent slices: {spread[0]:.2f} to {spread[-1]:.2f}" in result.stdout
    # The service runs here with one worker: its CPU is measured; its Redis is not the bench's.
    cpu = {path: runs[path, "saturation"]["cpu_us"] for path in ("/v1/page-views", "/v1/floor")}
    for parts in cpu.values():
        assert set(parts) == {"event loop", "Granian", "other threads", "total"}
        assert parts["event loop"] > 0
        assert parts["total"] == sum(v for k, v in parts.items() if k != "total")
    extra = cpu["/v1/page-views"]["event loop"] - cpu["/v1/floor"]["event loop"]
    assert f"| page view's own work | {extra:+.0f} |" in result.stdout
    ratio = cpu["/v1/floor"]["total"] / cpu["/v1/page-views"]["total"]
    assert f"CPU per request, floor / page view: **{ratio:.2f}**" in result.stdout
    (plot,) = tmp_path.glob("bench-*Z.svg")
    assert f"]({plot.name})" in report.with_suffix(".md").read_text()
    assert plot.with_suffix(".png").stat().st_size > 0
    # One fixed rate, against the same run's saturation: the 70% verdict and its curve.
    curve = figures["curve"]
    assert curve["points"][0]["share"] == 100.0 / pages["personalised"]
    assert (
        "at every rate up to 70% of saturation" in result.stdout or "**not shown**" in result.stdout
    )
    (drawn_curve,) = tmp_path.glob("bench-*-curve.svg")
    assert f"]({drawn_curve.name})" in report.with_suffix(".md").read_text()
    drawn = {g.get("id", "") for g in ET.parse(plot).getroot().iter(f"{SVG}g")}
    assert sum(i.startswith("latency ") for i in drawn) == 4
    # Redis is not measured here, so three parts of each endpoint's bar.
    assert sum(i.startswith("cpu ") for i in drawn) == 6


def test_bench_inference_compares_batching_on_the_configured_device(
    tmp_path: Path, command_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "bench-inference", str(ROOT / "models"),
         "--seconds", "0.5", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**command_env, "WITRYNA_DEVICE": "cpu"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (report,) = tmp_path.glob("inference-*.json")
    figures = json.loads(report.read_text())
    assert figures["device"] == "cpu"
    (row,) = figures["inference"]
    assert row["provider"] == "CPUExecutionProvider"
    assert row["ratio"] == row["batched_per_s"] / row["unbatched_per_s"] > 0
    assert row["model"] == "demo"
    assert row["history"] == 50
    assert f"| demo | {row['items']:,} | 50 | CPUExecutionProvider |" in result.stdout


def test_bench_measures_the_site_key_against_no_auth_in_one_run(
    tmp_path: Path, command_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "bench", "--requests", "20", "--auth-overhead",
         "--auth-pairs", "2", "--auth-rounds", "1", "--seconds", "1", "--auth-rate", "50",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**command_env, "WITRYNA_MODELS_DIR": str(ROOT / "models")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (report,) = tmp_path.glob("bench-*Z.json")
    auth = json.loads(report.read_text())["auth"]
    # Two pairs of services, one round each: two rounds in all.
    assert (auth["pairs"], auth["rounds"], auth["seconds"], auth["rate"]) == (2, 2, 1.0, 50.0)
    assert len(auth["load_average"]) == 2
    sides = auth["sides"]
    assert set(sides) == {SITE_KEY, NO_AUTH}
    for side in sides.values():
        # Page views served on both sides: the guard would have refused the keyless ones.
        assert side["latency"]["errors"] == side["saturation"]["errors"] == 0
        assert side["latency"]["rate"] == 50.0
        assert side["saturation"]["throughput"] > 0
        assert 0 < side["latency"]["p50_ms"] <= side["latency"]["p99_ms"]
        assert len(side["latency_rounds"]) == len(side["saturation"]["slices"]) == 2
    keyed, bare = sides[SITE_KEY], sides[NO_AUTH]
    assert auth["ratio"]["p50"] == keyed["latency"]["p50_ms"] / bare["latency"]["p50_ms"]
    assert auth["ratio"]["p99"] == keyed["latency"]["p99_ms"] / bare["latency"]["p99_ms"]
    assert auth["ratio"]["saturation"] == (
        keyed["saturation"]["throughput"] / bare["saturation"]["throughput"]
    )
    # Both services run here with one worker each: the CPU of each page view is measured.
    cpu = keyed["saturation"]["cpu_us"]["total"] / bare["saturation"]["cpu_us"]["total"]
    assert auth["ratio"]["cpu"] == cpu
    slices = zip(keyed["saturation"]["slices"], bare["saturation"]["slices"], strict=True)
    assert auth["round_ratios"]["saturation"] == [a / b for a, b in slices]
    assert {stat: len(ratios) for stat, ratios in auth["pair_ratios"].items()} == {
        "p50": 2, "p99": 2, "saturation": 2, "cpu": 2,
    }  # fmt: skip
    ratios = (auth["ratio"][k] for k in ("p50", "p99", "saturation", "cpu"))
    assert "| site key / no auth | " + " | ".join(f"**{r:.3f}**" for r in ratios) in result.stdout
    text = report.with_suffix(".md").read_text()
    (plot,) = tmp_path.glob("bench-*-auth.svg")
    assert f"]({plot.name})" in text
    drawn = {g.get("id", "") for g in ET.parse(plot).getroot().iter(f"{SVG}g")}
    stats = ("p50_ms", "p99_ms", "throughput")
    assert {AUTH_BAR_ID.format(stat=s, side=side) for s in stats for side in sides} <= drawn


def test_the_auth_comparison_refuses_a_service_it_did_not_start(
    tmp_path: Path, command_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "bench", "--url", "http://127.0.0.1:9",
         "--auth-overhead", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**command_env, "WITRYNA_MODELS_DIR": str(ROOT / "models")},
    )  # fmt: skip
    assert result.returncode == 2
    assert "--auth-overhead starts two services of its own: leave out --url" in result.stderr
    assert not list(tmp_path.iterdir())
