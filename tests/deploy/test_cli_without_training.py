"""The images install service/ alone, yet the project's metadata still names training's
commands; `witryna` must start there all the same."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests._support.stack import ROOT


def help_text(*, pythonpath: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    # -S skips the .pth files, the editable install's among them, which put training/ on
    # the path; the installed metadata with its `witryna.commands` entry stays visible.
    flags = ["-S"] if pythonpath else []
    env = {"PATH": "/usr/bin:/bin", **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    return subprocess.run(
        [sys.executable, *flags, "-m", "service", "--help"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def commands(help_text: str) -> set[str]:
    return set(re.findall(r"^    (\S+)", help_text, flags=re.MULTILINE))


SERVICE_COMMANDS = {
    "serve",
    "publish",
    "models",
    "load-catalog",
    "export-events",
    "keys",
    "reindex-logs",
}


def test_the_service_commands_remain_where_only_service_is_installed(tmp_path: Path) -> None:
    (tmp_path / "service").symlink_to(ROOT / "service")
    result = help_text(pythonpath=f"{tmp_path}:{sysconfig.get_paths()['purelib']}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == SERVICE_COMMANDS


def test_with_training_installed_its_commands_are_offered() -> None:
    result = help_text(pythonpath=None, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    offered = commands(result.stdout)
    assert offered > SERVICE_COMMANDS | {"train", "export", "bench", "bench-inference"}
