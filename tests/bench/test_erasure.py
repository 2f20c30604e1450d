from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests._support.stack import ROOT


def test_bench_erasure_erases_the_persons_and_reports_each_erasure(
    tmp_path: Path, command_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "bench-erasure", "--entries", "3000",
         "--visitors", "300", "--erasures", "12", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=command_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (folder,) = tmp_path.glob("erasure-*")
    figures = json.loads((folder / "erasure.json").read_text())
    assert (figures["entries"], figures["visitors"], figures["erasures"]) == (3000, 300, 12)
    assert len(figures["took_ms"]) == 12
    ms = figures["erase_ms"]
    assert 0 < ms["p50_ms"] <= ms["p99_ms"] <= ms["max_ms"] == max(figures["took_ms"])
    # Every entry the persons wrote is gone, through their indexes, and nobody else's.
    assert figures["erased_entries"] == figures["indexed_entries_of_erased"] > 0
    assert figures["entries_left"] == 3000 - figures["erased_entries"]
    assert figures["entries_left_of_erased"] == 0
    assert figures["indexes_left_of_erased"] is False
    readme = (folder / "README.md").read_text()
    assert f"| ms | {ms['p50_ms']:.2f} |" in readme
    assert "](erasure.svg)" in readme
    assert ET.parse(folder / "erasure.svg").getroot().tag.endswith("svg")
