"""Fixtures start real processes: a redis-server on a free port, a 3-node Redis Cluster on
loopback and `witryna serve`. Tests that take ``http`` or ``redis_client`` run twice: on one
redis-server (``[redis]``) and on the cluster (``[cluster]``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.model.manifest import Manifest, current_artefact, read_manifest
from service.storage.log_writer import LOG_INTERVAL_S
from service.storage.server import RedisServer
from tests._support.cluster import LocalCluster
from tests._support.stack import (
    MODEL_NAME,
    MODELS,
    SECRET,
    SERVICE_ENV,
    Backend,
    RedisClient,
    Service,
)

pytest_plugins = ["tests._support.ordering"]


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


# Module scope: a module's tests run on one backend, then on the other, in file order, beside
# the module's own fixtures (a session scope would regroup the tests of the whole run).
@pytest.fixture(scope="module", params=["redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "cluster":
        return Backend(request.getfixturevalue("redis_cluster").url, cluster=True)
    return Backend(request.getfixturevalue("redis_server").url, cluster=False)


@pytest.fixture
def redis_client(backend: Backend) -> Iterator[RedisClient]:
    client = backend.client()
    # The last test's page views may still have logs queued in the service, written up to
    # LOG_INTERVAL_S later: let them land before the flush rather than in this test.
    time.sleep(2 * LOG_INTERVAL_S)
    client.flushall()
    # The running service learns of the flush at its next catalogue sync (SERVICE_ENV): until
    # then it could still answer from the last test's catalogue.
    time.sleep(0.05)
    yield client
    client.close()


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
    with httpx.Client(base_url=backend_service.url, headers=SECRET, timeout=10.0) as client:
        yield client


@pytest.fixture
def stocked(http: httpx.Client, manifest: Manifest) -> list[str]:
    """Every item the model knows, loaded in stock: a carousel shows only items whose stock
    the catalogue holds, and each test starts on a flushed Redis."""
    items = [{"item_id": item, "in_stock": True} for item in manifest.items]
    assert http.put("/v1/catalog/items", json={"items": items}).status_code == 200
    return list(manifest.items)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test run on the cluster backend is a ``cluster`` test, so ``-m`` can leave it out."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "cluster" in callspec.params.values():
            item.add_marker(pytest.mark.cluster)
