from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from tests._support.stack import PATIENT_ENV


@pytest.fixture(scope="session")
def command_env() -> dict[str, str]:
    """The environment of a `witryna` subprocess, which finds `bench` among its commands
    through the installed entry point (pyproject's ``witryna.commands``)."""
    if not entry_points(group="witryna.commands", name="bench"):
        pytest.fail("no `bench` command installed: `make venv` installs the project with it")
    # The services it starts give Redis a second, as every test service does: these tests
    # check what the benchmark reports, and at the lowest priority 50 ms is sometimes missed.
    return {"PATH": "/usr/bin:/bin", **PATIENT_ENV}
