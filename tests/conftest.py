"""Fixtures start real processes: a redis-server on a free port, a 3-node Redis Cluster on
loopback and `witryna serve`. Tests that take ``http`` or ``redis_client`` run twice: on one
redis-server (``[redis]``) and on the cluster (``[cluster]``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeAlias

import httpx
import pytest
import redis
import redis.cluster

from service.bench import wait_ready
from service.manifest import Manifest, current_artefact, read_manifest
from service.redis_server import LocalCluster, RedisServer, free_port

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


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    cluster = LocalCluster()
    with cluster:
        print(f"redis cluster for the session on ports {cluster.ports}")
        yield cluster


class ClusterClient(redis.cluster.RedisCluster):
    """The sync cluster client, with the keyspace-wide reads tests make (KEYS, DBSIZE) asked of
    every primary: redis-py asks only one node, which would let a test pass unseen."""

    COMMAND_FLAGS: ClassVar[dict[str, str]] = {
        **redis.cluster.RedisCluster.COMMAND_FLAGS,
        "KEYS": redis.cluster.RedisCluster.PRIMARIES,
        "DBSIZE": redis.cluster.RedisCluster.PRIMARIES,
    }


RedisClient: TypeAlias = redis.Redis | ClusterClient


@dataclass(frozen=True)
class Backend:
    """Where the service under test keeps its state: one redis-server or a Redis Cluster."""

    url: str
    cluster: bool

    @property
    def env(self) -> dict[str, str]:
        """What a `witryna` process needs beyond the URL to reach this backend."""
        if not self.cluster:
            return {}
        # Three nodes share the loaded test machine with the service, and a burst of requests
        # opens connections to each: their handshakes can take longer than the default 100 ms.
        return {"WITRYNA_REDIS_CLUSTER": "1", "WITRYNA_REDIS_TIMEOUT_MS": "1000"}

    def client(self) -> RedisClient:
        if self.cluster:
            return ClusterClient.from_url(self.url)
        return redis.Redis.from_url(self.url)


# Module scope: a module's tests run on one backend, then on the other, in file order, beside
# the module's own fixtures (a session scope would regroup the tests of the whole run).
@pytest.fixture(scope="module", params=["redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "cluster":
        return Backend(request.getfixturevalue("redis_cluster").url, cluster=True)
    return Backend(request.getfixturevalue("redis_server").url, cluster=False)


# For a test whose service runs on the session's redis-server, not on `backend`.
on_one_redis = pytest.mark.parametrize("backend", ["redis"], indirect=True)


@pytest.fixture
def redis_client(backend: Backend) -> Iterator[RedisClient]:
    client = backend.client()
    client.flushall()
    # The running service learns of the flush at its next catalogue sync (SERVICE_ENV): until
    # then it could still answer from the last test's catalogue.
    time.sleep(0.05)
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
        # Granian kills a worker that has not stopped after 10 s: wait for that too.
        self.process.wait(timeout=20)


SERVICE_ENV = {
    "WITRYNA_MAX_BODY_BYTES": "65536",
    "WITRYNA_BENCH_ROUTES": "1",
    "WITRYNA_CATALOG_SYNC_MS": "5",
}


@pytest.fixture(scope="session")
def service(redis_server: RedisServer, artefact: Path) -> Iterator[Service]:
    with Service(redis_server.url, **SERVICE_ENV) as running:
        yield running


@pytest.fixture(scope="session")
def cluster_service(redis_cluster: LocalCluster, artefact: Path) -> Iterator[Service]:
    cluster = Backend(redis_cluster.url, cluster=True)
    with Service(cluster.url, **SERVICE_ENV, **cluster.env) as running:
        yield running


@pytest.fixture(scope="module")
def backend_service(backend: Backend, request: pytest.FixtureRequest) -> Service:
    """The session's service on the backend under test."""
    service: Service = request.getfixturevalue("cluster_service" if backend.cluster else "service")
    return service


@pytest.fixture
def http(backend_service: Service, redis_client: RedisClient) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=backend_service.url, timeout=10.0) as client:
        yield client


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll until ``condition`` holds; the caller's assertion says what was expected."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
