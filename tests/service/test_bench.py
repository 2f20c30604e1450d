from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, Service


def test_bench_reports_latency_against_its_floor(service: Service, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "bench", "--url", service.url,
         "--requests", "60", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "WITRYNA_MODELS_DIR": str(ROOT / "models")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "POST /v1/page-views" in result.stdout
    (report,) = tmp_path.glob("sequential-*.json")
    figures = json.loads(report.read_text())
    assert figures["requests"] == 60
    assert 0 < figures["page_view"]["median_ms"] <= figures["page_view"]["p99_ms"]
    assert figures["ratio_median"] == (
        figures["page_view"]["median_ms"] / figures["floor_healthz"]["median_ms"]
    )
