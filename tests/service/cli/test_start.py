"""What `witryna serve` says at start: the private Redis and the links once it answers, and
one line, before any Redis is started, for a port in use or a bad policy."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._support.stack import KEYS_ENV, MODELS, ROOT, Service, wait_for

POLICY = """\
version = "start-1"

[pages.default]
slots = ["hero"]

[[slots.hero.variants]]
name = "welcome"
intents = ["browse"]
"""
LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp


def listeners(port: int) -> int:
    """Sockets listening on ``port``, every process's, as `ss -ltn` would count them."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            count += state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port
    return count


def serve(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`witryna serve` in a clean environment, for one that is meant to stop at start."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WITRYNA_")}
    clean |= KEYS_ENV | {"WITRYNA_MODELS_DIR": str(MODELS), "WITRYNA_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "service", "serve", *args],
        env=clean | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Path]]:
    """A service as `make run` starts it: its own Redis, the demo store and the API docs."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with Service(None, log=log, WITRYNA_DEMO="1", WITRYNA_OPENAPI="1") as service:
        yield service, log


def test_the_private_redis_and_the_links_are_logged(running: tuple[Service, Path]) -> None:
    service, log = running
    wait_for(lambda: "ready at" in log.read_text())
    text = log.read_text()
    data_dir = service.env["WITRYNA_DATA_DIR"]
    assert "private redis-server on redis://127.0.0.1:" in text
    assert f"its files in {data_dir}/redis" in text
    ready = text[text.index("ready at") :].splitlines()
    assert ready[0] == f"ready at {service.url}"
    pages = [line.split()[0] for line in ready[1:6]]
    assert pages == [f"{service.url}{path}" for path in ("/", "/demo", "/dashboard")] + [
        f"{service.url}/schema/swagger",
        f"{service.url}/healthz",
    ]


def test_a_second_service_on_a_port_in_use_stops_before_its_redis(
    running: tuple[Service, Path], tmp_path: Path
) -> None:
    service, _ = running
    assert listeners(service.port) == 1
    second = serve(tmp_path / "data", "--port", str(service.port))
    assert second.returncode == 2
    assert second.stderr == (
        f"witryna: error: port {service.port} on 127.0.0.1 is in use by another process\n"
    )
    assert listeners(service.port) == 1
    # The private Redis keeps its files there from its start on.
    assert not (tmp_path / "data" / "redis").exists()


@pytest.mark.parametrize(
    ("old", "new", "after_the_name"),
    [
        (
            'intents = ["browse"]',
            'intnt = ["browse"]',
            ":8: slots.hero.variants[0].intnt: Object contains unknown field `intnt`",
        ),
        ("version = ", "version == ", ":1: not valid TOML: Invalid value"),
    ],
)
def test_a_bad_policy_stops_the_start_in_one_line(
    tmp_path: Path, old: str, new: str, after_the_name: str
) -> None:
    assert old in POLICY
    (tmp_path / "policy.toml").write_text(POLICY.replace(old, new, 1))
    # Named relative to the working directory, as an operator would.
    relative = os.path.relpath(tmp_path / "policy.toml", ROOT)
    result = serve(tmp_path / "data", WITRYNA_POLICY_PATH=relative)
    assert result.returncode == 2
    assert result.stderr == f"witryna: error: {relative}{after_the_name}\n"
    assert not (tmp_path / "data").exists()


def test_a_missing_policy_stops_the_start_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    result = serve(tmp_path / "data", WITRYNA_POLICY_PATH=str(missing))
    assert result.returncode == 2
    assert result.stderr == f"witryna: error: {missing}: cannot read: No such file or directory\n"
