"""The stack `witryna bench` starts for itself: a private Redis and one server worker on
loopback, both on one core, and the keys it is called with."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from msgspec import Struct

from bench import cpu as bench_cpu
from bench import profile as bench_profile
from service.cli.keys import generate
from service.model.manifest import current_artefact, read_manifest
from service.settings import Settings
from service.storage.catalog import Catalog, ItemUpdate
from service.storage.client import connect
from service.storage.server import RedisServer, free_port

SERVER_CPU = 0


def _pinned(cores: set[int]) -> Callable[[], None]:
    def pin() -> None:
        os.sched_setaffinity(0, cores)

    return pin


class Keys(Struct, frozen=True):
    """The keys the benchmark calls with: the site key on the storefront's routes, as
    witryna.js does, and the secret key for what else it reads."""

    site: str = ""
    secret: str = ""

    @classmethod
    def generated(cls) -> Keys:
        made = generate()
        return cls(made["WITRYNA_SITE_KEYS"], made["WITRYNA_SECRET_KEYS"])

    @classmethod
    def of(cls, settings: Settings) -> Keys:
        return cls(next(iter(settings.site_key_list), ""), next(iter(settings.secret_key_list), ""))

    def on(self, url: str) -> str:
        """``url`` with the site key as its query, for the load generator."""
        return f"{url}?key={self.site}" if self.site else url


class LocalStack(Struct, frozen=True):
    url: str
    redis_pid: int
    keys: Keys


@contextmanager
def local_stack(
    settings: Settings,
    guarded: bool = True,
    cores: frozenset[int] = frozenset({SERVER_CPU}),
    env: dict[str, str] | None = None,
) -> Iterator[LocalStack]:
    """A private Redis and one server worker on loopback, both on one core, stopped afterwards.

    The load comes from another process on the other core, as a storefront's would.
    ``guarded=False``: no keys, and the app without its guard (bench/unguarded.py), the
    yardstick of what keys cost. ``cores`` and ``env`` (``WITRYNA_WORKERS``, another model)
    are for the comparisons that give the server more cores and workers, or other artefacts.
    """
    keys = Keys.generated() if guarded else Keys()
    data_dir = tempfile.mkdtemp(prefix="witryna-bench-")
    with RedisServer() as redis:
        os.sched_setaffinity(redis.pid, cores)
        asyncio.run(stock(redis.url, settings))
        port = free_port()
        env = {
            # The load comes from one address at saturation, far past any shopper's, over a
            # few visitor ids: no limits, unless the environment asks for them to be measured.
            "WITRYNA_RATE_PER_ADDRESS": "0",
            "WITRYNA_RATE_PER_VISITOR": "0",
            **os.environ,
            "WITRYNA_SITE_KEYS": keys.site,
            "WITRYNA_SECRET_KEYS": keys.secret,
            "WITRYNA_REDIS_URL": redis.url,
            "WITRYNA_LOG_LEVEL": "WARNING",
            "WITRYNA_BENCH_ROUTES": "1",
            "WITRYNA_DATA_DIR": data_dir,
            **(env or {}),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "service" if guarded else "bench.unguarded",
             "serve", "--port", str(port)],
            env=env,
            preexec_fn=_pinned(set(cores)),
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, server)
            yield LocalStack(url, redis.pid, keys)
        finally:
            stop(server)
            shutil.rmtree(data_dir, ignore_errors=True)


def stop(server: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``: the measurement is over, and a server that a
    saturating load left slow to stop (Granian gives a worker 10 s) must not fail the run."""
    server.terminate()
    try:
        server.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        print(f"server {server.pid} not stopped after {grace_s:.0f} s: killed", file=sys.stderr)
        server.kill()
        server.wait()


async def stock(redis_url: str, settings: Settings) -> None:
    """Every item the model knows, in stock: carousels show only items of known stock, and an
    empty catalogue would measure the cheaper fallback instead of a shop's page view."""
    artefact = current_artefact(Path(settings.models_dir), settings.model_name)
    items = read_manifest(artefact).items
    client = connect(redis_url, 10_000, False)
    catalog = Catalog(client)
    for start in range(0, len(items), 10_000):
        batch = items[start : start + 10_000]
        await catalog.upsert(ItemUpdate(item_id=item, in_stock=True) for item in batch)
    await client.aclose()


def wait_ready(url: str, server: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout_s:.0f} s")


def cpu_meter(url: str, redis_pid: int | None) -> bench_cpu.CpuMeter | None:
    """A meter on the server's one worker, when it runs on this machine with one worker."""
    parent = bench_profile.server_pid(int(url.rsplit(":", 1)[1]))
    workers = bench_profile.worker_pids(parent) if parent is not None else []
    return bench_cpu.CpuMeter(workers[0], redis_pid) if len(workers) == 1 else None
