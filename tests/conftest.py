"""Fixtures start real processes: a redis-server on a free port and `witryna serve`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from service.bench import wait_ready
from service.manifest import Manifest, current_artefact, read_manifest
from service.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
MODEL_NAME = "demo"


@pytest.fixture(scope="session")
def artefact() -> Path:
    """The real exported demo model that `make test` makes sure exists."""
    try:
        return current_artefact(MODELS, MODEL_NAME)
    except Exception as exc:
        pytest.fail(f"{exc}: `make test` trains it before running pytest")


@pytest.fixture(scope="session")
def manifest(artefact: Path) -> Manifest:
    return read_manifest(artefact)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    print(f"redis-server for the session on port {server.port}")
    with server:
        yield server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    yield client
    client.close()


class Service:
    """A `witryna serve` process, exactly as an operator starts it."""

    def __init__(self, redis_url: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "WITRYNA_REDIS_URL": redis_url,
            "WITRYNA_MODELS_DIR": str(MODELS),
            "WITRYNA_MODEL_NAME": MODEL_NAME,
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Service:
        command = [sys.executable, "-m", "service", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=self.env, cwd=ROOT)
        wait_ready(self.url, self.process)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def service(redis_server: RedisServer, artefact: Path) -> Iterator[Service]:
    env = {"WITRYNA_MAX_BODY_BYTES": "65536", "WITRYNA_BENCH_ROUTES": "1"}
    with Service(redis_server.url, **env) as running:
        yield running


@pytest.fixture
def http(service: Service, redis_client: redis.Redis) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=10.0) as client:
        yield client


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll until ``condition`` holds; the caller's assertion says what was expected."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
