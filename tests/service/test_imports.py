"""Serving needs ONNX Runtime, not PyTorch."""

from __future__ import annotations

import subprocess
import sys

from tests._support.stack import ROOT

PROBE = """
import sys
from service.app import create_app
from service.cli.main import build_parser
from service.settings import Settings
create_app(Settings.from_env({}))
build_parser()
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(",".join(loaded) or "none")
"""


def test_building_the_app_and_the_cli_loads_no_torch() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"


def test_importing_the_app_reads_no_environment() -> None:
    # A bad variable would fail at once if anything read the environment at import time.
    probe = "import service.app, service.cli.main, service.http.routes; print('imported')"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "WITRYNA_PORT": "eighty", "WITRYNA_TYPO": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"
