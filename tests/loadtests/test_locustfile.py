"""The Locust journeys, run headless for real against a real `witryna serve`."""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from loadtests.run import locust_command, parse
from tests._support.stack import ROOT, SECRET_KEY, SITE_KEY, Service

LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"
# The caller's own LOAD_* budgets must not change what these tests check.
LOAD_PREFIX = "LOAD_"
# Enough users that the smallest weights still get one each (Locust rounds shares down).
USERS = "20"


def user_classes() -> set[str]:
    """The journeys, read from the source: importing Locust here would monkey-patch pytest."""
    tree = ast.parse(LOCUSTFILE.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any(isinstance(base, ast.Name) and base.id == "Shopper" for base in node.bases)
    }


def locust(
    url: str, out: Path, seconds: int, *extra: str, **env: str
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", USERS, "-r", USERS, "-t", f"{seconds}s", "--host", url,
        "--csv", str(out), "--journeys-json", f"{out}_journeys.json", "--only-summary", *extra,
    ]  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith(LOAD_PREFIX)}
    keys = {"LOAD_SITE_KEY": SITE_KEY, "LOAD_SECRET_KEY": SECRET_KEY}
    return subprocess.run(
        command, env={**clean, **keys, **env}, cwd=ROOT, capture_output=True, text=True, timeout=90
    )


def test_every_journey_runs_without_a_failure(service: Service, tmp_path: Path) -> None:
    # A generous budget: this checks the journeys, not the speed of a shared test machine.
    run = locust(service.url, tmp_path / "run", 10, "--p99-budget-ms", "10000")
    assert run.returncode == 0, run.stderr[-3000:]

    journeys = json.loads((tmp_path / "run_journeys.json").read_text())
    assert set(journeys) == user_classes()
    assert all(counts["requests"] > 0 for counts in journeys.values()), journeys
    assert all(counts["failures"] == 0 for counts in journeys.values()), journeys

    with (tmp_path / "run_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    assert {"/v1/page-views", "/v1/events", "/v1/identify", "Aggregated"} <= set(rows)
    assert int(rows["/v1/page-views"]["Request Count"]) > 0
    assert rows["Aggregated"]["Failure Count"] == "0"
    assert (tmp_path / "run_failures.csv").exists()


def test_a_broken_latency_budget_fails_the_run(service: Service, tmp_path: Path) -> None:
    run = locust(service.url, tmp_path / "slow", 4, LOAD_P99_MS="0.001")
    assert run.returncode == 1
    assert "budget breached: page-view p99" in run.stderr
    assert "> budget 0.001 ms" in run.stderr


def test_the_wrapper_writes_html_csv_and_journeys_under_one_prefix() -> None:
    args, extra = parse(
        ["-u", "5", "-t", "5m", "--out", "bench/results/x", "--", "--loglevel", "DEBUG"]
    )
    command = locust_command(args, "http://127.0.0.1:1", extra)
    assert command[command.index("--html") + 1] == "bench/results/x-report.html"
    assert command[command.index("--csv") + 1] == "bench/results/x"
    assert command[command.index("-t") + 1] == "5m"
    assert command[-2:] == ["--loglevel", "DEBUG"]
