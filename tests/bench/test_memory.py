"""`witryna bench-memory`: per worker and parent memory of a real `witryna serve`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests._support.stack import MODEL_NAME, MODELS, ROOT

MIB = 1024 * 1024


def test_bench_memory_reads_every_worker_and_the_parent_of_the_served_model(
    tmp_path: Path, command_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "bench-memory", str(MODELS / MODEL_NAME),
         "--workers", "2", "--warm-seconds", "1", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=command_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (report,) = tmp_path.glob("memory-*.json")
    (found,) = json.loads(report.read_text())["results"]
    assert (found["model"], found["workers_asked"]) == (MODEL_NAME, 2)
    assert found["warm_page_views"] > 0
    workers = found["workers"]
    assert len(workers) == 2
    assert len({w["pid"] for w in workers} | {found["parent"]["pid"]}) == 3
    for process in [found["parent"], *workers]:
        assert 0 < process["uss"] <= process["pss"] <= process["rss"]
        assert process["shared"] == process["rss"] - process["uss"]
        # Python's own code and its libraries are file-backed pages.
        assert 0 < process["file_backed"] < process["rss"]
    # Each worker holds its own copy of the model: more than the parent, which has none.
    assert min(w["uss"] for w in workers) > found["parent"]["uss"]
    every = [found["parent"], *workers]
    assert found["total_pss"] == sum(p["pss"] for p in every)
    worker = workers[0]
    row = f"| {MODEL_NAME} | {found['items']:,} | "
    assert row in result.stdout
    assert (
        f"| worker 1 | {worker['rss'] / MIB:,.1f} | {worker['uss'] / MIB:,.1f} |" in result.stdout
    )
    assert f"**{found['total_pss'] / MIB:,.1f} MiB** in all" in result.stdout
    assert (tmp_path / report.name.replace(".json", ".svg")).is_file()
