"""The service under test, as an operator starts it, and where it keeps its state."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeAlias

import pytest
import redis
import redis.cluster

from bench.stack import wait_ready
from service.storage.server import free_port

# The keys every test service starts with: the secret one goes in each test client's headers.
SECRET_KEY = "test-secret-key-0123456789"
SITE_KEY = "test-site-key-0123456789"
IDENTIFY_SECRET = "test-identify-secret"
KEYS_ENV = {
    "WITRYNA_SECRET_KEYS": SECRET_KEY,
    "WITRYNA_SITE_KEYS": SITE_KEY,
    "WITRYNA_IDENTIFY_SECRET": IDENTIFY_SECRET,
}
# Every test calls from 127.0.0.1, and some name one visitor in a tight loop, faster than a
# shop's busiest address or any shopper: tests/service/http/test_rate_limits.py holds those
# limits on services of its own.
UNLIMITED_ENV = {"WITRYNA_RATE_PER_ADDRESS": "0", "WITRYNA_RATE_PER_VISITOR": "0"}
# `make test` runs these services at the lowest CPU priority beside the serial tests: a Redis
# call may wait a scheduling slice or two. The 50 ms deadline and 100 ms timeout themselves
# are held at their defaults by tests/bench/test_faults.py, which runs at normal priority.
PATIENT_ENV = {"WITRYNA_REDIS_DEADLINE_MS": "1000", "WITRYNA_REDIS_TIMEOUT_MS": "1000"}
SECRET = {"Authorization": f"Bearer {SECRET_KEY}"}

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
MODEL_NAME = "demo"


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
        # opens connections to each: their handshakes can take longer than the default 100 ms
        # timeout, and than the page view's 50 ms deadline.
        return {
            "WITRYNA_REDIS_CLUSTER": "1",
            "WITRYNA_REDIS_TIMEOUT_MS": "1000",
            "WITRYNA_REDIS_DEADLINE_MS": "1000",
        }

    def client(self) -> RedisClient:
        if self.cluster:
            return ClusterClient.from_url(self.url)
        return redis.Redis.from_url(self.url)


# For a test whose service runs on the session's redis-server, not on `backend`.
on_one_redis = pytest.mark.parametrize("backend", ["redis"], indirect=True)


class Service:
    """A `witryna serve` process, exactly as an operator starts it. Each has a data dir of its
    own, removed when it stops, unless ``WITRYNA_DATA_DIR`` names one; without a Redis URL it
    starts its private Redis there. ``log`` collects what it writes to stdout and stderr."""

    def __init__(self, redis_url: str | None, log: Path | None = None, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        # The tests run it from the repository: the default data dir would be shared by all.
        self._data = tempfile.mkdtemp(prefix="witryna-data-")
        self.env = {
            **os.environ,
            "WITRYNA_MODELS_DIR": str(MODELS),
            "WITRYNA_MODEL_NAME": MODEL_NAME,
            "WITRYNA_DATA_DIR": self._data,
            **KEYS_ENV,
            **UNLIMITED_ENV,
            **PATIENT_ENV,
            **({} if redis_url is None else {"WITRYNA_REDIS_URL": redis_url}),
            **env,
        }
        if redis_url is None:
            self.env.pop("WITRYNA_REDIS_URL", None)
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Service:
        command = [sys.executable, "-m", "service", "serve", "--port", str(self.port)]
        output = None if self.log is None else self.log.open("ab")
        try:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=ROOT, stdout=output, stderr=output
            )
        finally:
            if output is not None:
                output.close()
        try:
            wait_ready(self.url, self.process)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        # Granian kills a worker that has not stopped after 10 s: wait for that too.
        self.process.wait(timeout=20)
        shutil.rmtree(self._data, ignore_errors=True)


SERVICE_ENV = {
    "WITRYNA_MAX_BODY_BYTES": "65536",
    "WITRYNA_BENCH_ROUTES": "1",
    "WITRYNA_CATALOG_SYNC_MS": "5",
    "WITRYNA_OPENAPI": "1",
    "WITRYNA_DEMO": "1",
}


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll until ``condition`` holds; the caller's assertion says what was expected."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
