"""`witryna keys` makes keys once, for the owner's eyes only, that the service accepts."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from service.settings import Settings
from tests._support.stack import ROOT


def keys(path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "service", "keys", "--file", str(path)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_keys_are_made_once_private_and_valid(tmp_path: Path) -> None:
    path = tmp_path / "build" / "keys.env"
    first = keys(path)
    assert first.returncode == 0, first.stderr
    assert f"new keys in {path}" in first.stdout
    made = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    env = dict(line.split("=", 1) for line in made.splitlines())
    settings = Settings.from_env(env)
    assert len(settings.site_key_list) == len(settings.secret_key_list) == 1
    assert settings.site_key_list != settings.secret_key_list
    again = keys(path)
    assert "keys kept in" in again.stdout
    assert path.read_text() == made
