from __future__ import annotations

from importlib.metadata import entry_points

import pytest


@pytest.fixture(scope="session")
def command_env() -> dict[str, str]:
    """The environment of a `witryna` subprocess, which finds `bench` among its commands
    through the installed entry point (pyproject's ``witryna.commands``)."""
    if not entry_points(group="witryna.commands", name="bench"):
        pytest.fail("no `bench` command installed: `make venv` installs the project with it")
    return {"PATH": "/usr/bin:/bin"}
