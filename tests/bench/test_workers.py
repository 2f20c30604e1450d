"""`witryna bench --workers`: N workers against one, on stacks the benchmark starts."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.scaling_report import BAR_ID
from tests._support.stack import ROOT

SVG = "{http://www.w3.org/2000/svg}"


def test_bench_compares_two_workers_with_one_and_names_what_limited_them(
    tmp_path: Path, command_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "bench", "--requests", "20", "--workers", "2",
         "--workers-rounds", "2", "--seconds", "1", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**command_env, "WITRYNA_MODELS_DIR": str(ROOT / "models")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (report,) = tmp_path.glob("bench-*Z.json")
    workers = json.loads(report.read_text())["workers"]
    one, two = workers["runs"]
    assert (one["workers"], two["workers"]) == (1, 2)
    assert one["errors"] == two["errors"] == 0
    assert len(one["slices"]) == len(two["slices"]) == 2
    assert two["ratio"] == two["throughput"] / one["throughput"] > 0
    assert two["round_ratios"] == [a / b for a, b in zip(two["slices"], one["slices"], strict=True)]
    # The generator keeps its cores for both counts; each part's CPU was read.
    assert one["load_cores"] == two["load_cores"]
    assert set(two["busy"]) == {"server", "Redis", "load generator"}
    assert all(share > 0 for share in two["busy"].values())
    assert f"2 workers against 1: **{two['ratio']:.2f}x**" in result.stdout
    # Without nvidia-smi here, no GPU reading; with too few cores, the report says so.
    assert two["gpu"] is None
    assert "| no GPU |" in result.stdout
    shared = "**This host has no spare cores for the comparison:**" in result.stdout
    assert shared == (not two["own_cores"])
    (plot,) = tmp_path.glob("bench-*-workers.svg")
    drawn = {g.get("id", "") for g in ET.parse(plot).getroot().iter(f"{SVG}g")}
    assert {BAR_ID.format(workers=1), BAR_ID.format(workers=2), "ideal"} <= drawn
    assert f"]({plot.name})" in report.with_suffix(".md").read_text()


def test_the_workers_comparison_refuses_a_service_it_did_not_start(
    tmp_path: Path, command_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "bench", "--url", "http://127.0.0.1:9",
         "--workers", "2", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**command_env, "WITRYNA_MODELS_DIR": str(ROOT / "models")},
    )  # fmt: skip
    assert result.returncode == 2
    refusal = "--workers and --catalogues start services of their own: leave out --url"
    assert refusal in result.stderr
    assert not list(tmp_path.iterdir())
