from __future__ import annotations

from importlib.metadata import entry_points

import pytest

# What a checkout's `pip install -e .` registers; see pyproject's witryna.commands.
ENTRY_POINT = "[witryna.commands]\nbench = bench.cli:register\n"


@pytest.fixture(scope="session")
def command_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a `witryna` subprocess that has `bench` among its commands.

    The command finds it through the installed metadata, which a virtualenv installed before
    bench/ had an entry point lacks: there a stand-in distribution naming only that entry
    point goes on the path, so that the command is still reached the way `witryna` reaches it.
    """
    env = {"PATH": "/usr/bin:/bin"}
    if not entry_points(group="witryna.commands", name="bench"):
        stand_in = tmp_path_factory.mktemp("entry-point")
        info = stand_in / "witryna_bench-0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: witryna-bench\nVersion: 0\n")
        (info / "entry_points.txt").write_text(ENTRY_POINT)
        env["PYTHONPATH"] = str(stand_in)
    return env
