"""`witryna evaluate` over seeds and `witryna evaluate-all`, end to end on tiny data: two
seeds of one epoch, files written the way the public datasets and a shop's export are."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch

from service.schema import StoredEvent
from training.cli import main
from training.data.simulator import simulate
from training.evaluation.evaluate_all import MIN_NEXT_ITEM_PREFIXES

TINY = ["--epochs", "1", "--seeds", "2", "--no-progress"]
MEAN_SD = r"\d\.\d{4} ± \d\.\d{4}"


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The commands set torch's threads for the whole process: give the old value back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def time_ordered(seed: int, sessions: int) -> list[StoredEvent]:
    """Simulated events in time order, as the streaming readers expect a file."""
    events = [e for s in simulate(sessions, seed) for e in s.events]
    return sorted(events, key=lambda e: e.ts or 0.0)


def write_jsonl_export(path: Path) -> Path:
    """A shop's export with its own key names and its own word for a purchase."""
    rename = {"purchase": "buy"}
    with path.open("w") as handle:
        for e in time_ordered(seed=2, sessions=300):
            row = {"user": e.visitor_id, "sid": e.session_id, "when": e.ts}
            row |= {"action": rename.get(e.type, e.type), "sku": e.item_id, "cat": e.category}
            handle.write(json.dumps(row) + "\n")
    return path


def write_diginetica(folder: Path, sessions: int) -> None:
    """Item views only, `;`-separated, milliseconds since the day's midnight."""
    folder.mkdir(parents=True)
    lines = ["session_id;user_id;item_id;timeframe;eventdate"]
    for e in time_ordered(seed=3, sessions=sessions):
        if e.type != "product_view" or not e.item_id:
            continue
        when = datetime.fromtimestamp(e.ts or 0.0, UTC)
        day = when.replace(hour=0, minute=0, second=0, microsecond=0)
        offset_ms = round((when - day).total_seconds() * 1000)
        lines.append(f"{e.session_id};NA;{e.item_id};{offset_ms};{day.date().isoformat()}")
    (folder / "train-item-views.csv").write_text("\n".join(lines) + "\n")


def write_otto(folder: Path) -> None:
    folder.mkdir(parents=True)
    start_ms = 1_659_304_800_000
    lines = []
    for s in range(3):
        events = [{"aid": s * 10 + i, "ts": start_ms + 1000 * i, "type": "clicks"} for i in (0, 1)]
        lines.append(json.dumps({"session": s, "events": events}) + "\n")
    (folder / "train.jsonl").write_text("".join(lines))


@pytest.mark.slow
def test_evaluate_a_mapped_jsonl_export_over_seeds(tmp_path: Path) -> None:
    data = write_jsonl_export(tmp_path / "shop.jsonl")
    mapping = "visitor_id=user,session_id=sid,type=action,ts=when,item_id=sku,category=cat"
    out = tmp_path / "report"
    command = ["evaluate", "--data", str(data), "--format", "jsonl", "--out", str(out)]
    assert main([*command, "--map", mapping, "--map", "type:buy=purchase", *TINY]) == 0
    report = (out / "report.md").read_text()
    assert "| metric | Transformer (mean ± sd, 2 seeds) |" in report
    assert f"by `witryna evaluate --data {data} --format jsonl --map {mapping} " in report
    for metric in ("buy ROC-AUC", "buy PR-AUC", "Recall@20", "MRR@20"):
        assert re.search(rf"^\| {metric} \| {MEAN_SD} \|", report, re.MULTILINE), metric
    assert "per-prefix scores of the first seed (0)" in report
    # One verdict per baseline with the metric, with its interval.
    differences = report.split("## Differences and verdicts")[1].split("##")[0]
    recall = next(line for line in differences.splitlines() if line.startswith("| Recall@20 |"))
    assert len(re.findall(r"(?:win|loss|within noise): [+-]\d\.\d{4} \[", recall)) == 3
    seeds = re.findall(r"^\| (\d) \| 1 \| [\d.]+ \| [\d,]+ \|", report, re.MULTILINE)
    assert seeds == ["0", "1"]
    assert re.search(r"Training throughput: [\d,]+ events/s", report)
    assert re.search(r"- Wall time: \d+\.\ds", report)
    assert "## Uplift on fresh shoppers" not in report  # no logged incentive in a shop file


@pytest.mark.slow
def test_evaluate_all_writes_reports_and_a_summary_with_verdicts(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "reports"
    write_diginetica(data / "diginetica", sessions=350)
    write_otto(data / "otto")
    command = ["evaluate-all", "--data-dir", str(data), "--out", str(out), "--sessions", "300"]
    assert main([*command, *TINY]) == 0
    summary = (out / "summary.md").read_text()
    assert (
        f"by `witryna evaluate-all --data-dir {data} --sessions 300 --seed 0 --epochs 1" in summary
    )
    for name in ("diginetica", "simulated"):
        report = (out / name / "report.md").read_text()
        assert re.search(rf"^\| Recall@20 \| {MEAN_SD} \|", report, re.MULTILINE)
    verdicts = summary.split("## Verdicts")[1].split("##")[0]
    cells = [line.split(" | ") for line in verdicts.splitlines() if line.startswith("| [")]
    rows = {row[0]: row for row in cells}
    assert set(rows) == {
        "| [diginetica](diginetica/report.md)",
        "| [simulated](simulated/report.md)",
    }
    views_only = rows["| [diginetica](diginetica/report.md)"]
    assert views_only[1:4] == ["n/a", "n/a", "n/a"]  # no purchases: no buy metrics
    assert re.match(r"(pass|fail) \((win|loss|within noise)\)", views_only[4])
    simulated = rows["| [simulated](simulated/report.md)"]
    assert all(re.match(r"(pass|fail)\b", cell) for cell in simulated[1:6])
    assert re.match(r"\d of 5 \|", simulated[6])
    results = summary.split("## Results")[1].split("##")[0]
    assert re.search(rf"\| {MEAN_SD} vs \d\.\d{{4}} Logistic \(counts\) \|", results)
    assert "- otto: 3 sessions" in summary
    assert f"fewer than the {MIN_NEXT_ITEM_PREFIXES}" in summary
    assert "- rees46: no rees46/*.csv under" in summary
    fresh = summary.split("## Uplift on fresh shoppers")[1].split("##")[0]
    assert len(re.findall(r"^\| 10\d\d \| \d+ \|", fresh, re.MULTILINE)) == 5
    assert re.search(r"\*\*Verdict: (pass|fail)", fresh)
    assert "## Uplift on fresh shoppers" in (out / "simulated" / "report.md").read_text()
    assert re.search(r"Total wall time \d+\.\ds", summary)
