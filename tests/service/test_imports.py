"""Importing the app does no I/O and reads no environment (what it loads: tests/test_layout.py)."""

from __future__ import annotations

import subprocess
import sys

from tests._support.stack import ROOT


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
