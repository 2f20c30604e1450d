"""``witryna bench-faults``: Redis killed, the service stopped while Redis is down, Redis
paused and slowed, each under a fixed load, with the figures written to a report.

The stack is one service worker on a Redis that keeps an append-only file, as `make run`'s
does, each on loopback; the service's journal lives in a directory of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.fault_report import answers, check
from bench.faults import Action, Run, drive
from bench.stack import Keys, stock, wait_ready
from service.model.manifest import current_artefact, read_manifest
from service.settings import Settings
from service.storage.server import RedisServer, free_port

WARM_UP = 200
DURABLE = ["--appendonly", "yes", "--appendfsync", "everysec", "--enable-debug-command", "yes"]


class Stack:
    """A durable Redis and a service worker that can each be killed and started again."""

    def __init__(self, data_dir: Path, keys: Keys) -> None:
        self.redis = RedisServer(options=DURABLE)
        self.data_dir, self.keys = data_dir, keys
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.service: subprocess.Popen[bytes] | None = None

    @property
    def deadline_ms(self) -> float:
        return Settings.from_env().redis_deadline_ms

    def start_service(self) -> None:
        env = {
            **os.environ,
            "WITRYNA_REDIS_URL": self.redis.url,
            "WITRYNA_DATA_DIR": str(self.data_dir),
            "WITRYNA_SITE_KEYS": self.keys.site,
            "WITRYNA_SECRET_KEYS": self.keys.secret,
            # One address and 1,000 visitors send the whole load: no limits.
            "WITRYNA_RATE_PER_ADDRESS": "0",
            "WITRYNA_RATE_PER_VISITOR": "0",
            "WITRYNA_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "service", "serve", "--port", str(self.port)]
        self.service = subprocess.Popen(command, env=env)
        wait_ready(self.url, self.service)
        self._warm_up()

    def _warm_up(self) -> None:
        """A few seconds' worth of page views first, as a shop's traffic would have sent: a
        cold worker's first model runs and catalogue reads are slower than any later one's."""
        page = {"type": "product", "item_id": _items()[0]}
        with httpx.Client(base_url=self.url, params={"key": self.keys.site}) as http:
            for i in range(WARM_UP):
                http.post("/v1/page-views", json={"visitor_id": f"warm-{i % 20}", "page": page})

    def stop_service(self) -> None:
        if self.service is not None:
            self.service.send_signal(signal.SIGTERM)
            self.service.wait(timeout=30)
            self.service = None

    def journal_events(self) -> int:
        auth = {"Authorization": f"Bearer {self.keys.secret}"}
        body = httpx.get(f"{self.url}/readyz", headers=auth, timeout=2.0).json()
        return int(body["journal_events"])

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url)


@contextmanager
def stack() -> Iterator[Stack]:
    data_dir = Path(tempfile.mkdtemp(prefix="witryna-faults-"))
    running = Stack(data_dir, Keys.generated())
    try:
        running.redis.start()
        asyncio.run(stock(running.redis.url, Settings.from_env()))
        running.start_service()
        yield running
    finally:
        running.stop_service()
        running.redis.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def _items() -> list[str]:
    settings = Settings.from_env()
    artefact = current_artefact(Path(settings.models_dir), settings.model_name)
    return read_manifest(artefact).items[:200]


def _drive(running: Stack, rate: float, seconds: float, actions: list[Action]) -> Run:
    return drive(running.url, running.keys.site, _items(), rate, seconds, actions)


def _settle(running: Stack, timeout_s: float = 30.0) -> None:
    """Until the journal has drained into Redis."""
    deadline = time.monotonic() + timeout_s
    while running.journal_events() and time.monotonic() < deadline:
        time.sleep(0.1)


def kill_redis(rate: float, seconds: float) -> dict[str, Any]:
    """``kill -9`` Redis a third of the way in, and start it again 11 s later."""
    down, up = seconds / 3, seconds / 3 + 11
    with stack() as running:
        actions = [Action(down, "kill -9 redis", running.redis.kill),
                   Action(up, "start redis", running.redis.start)]  # fmt: skip
        run = _drive(running, rate, seconds, actions)
        _settle(running)
        return {**answers(run, _window(run), running.deadline_ms), **check(run, running.client())}


def stop_service_while_redis_is_down(rate: float, seconds: float) -> dict[str, Any]:
    """Redis killed, then the service sent SIGTERM with events in its journal; both
    started again, the next service replays what the first one left."""
    with stack() as running:
        actions = [Action(seconds / 3, "kill -9 redis", running.redis.kill),
                   Action(seconds * 2 / 3, "SIGTERM service", running.stop_service)]  # fmt: skip
        run = _drive(running, rate, seconds, actions)
        running.redis.start()
        running.start_service()
        _settle(running)
        figures = answers(run, (seconds / 3, seconds), running.deadline_ms)
        return {**figures, **check(run, running.client())}


Stall = Callable[[redis.Redis], None]


def _hold(running: Stack, stall: Stall, seconds: float) -> Callable[[], None]:
    def do() -> None:
        client = redis.Redis.from_url(running.redis.url, socket_timeout=seconds + 5)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            stall(client)
        client.close()

    return do


def stall_redis(how: str, rate: float, seconds: float) -> dict[str, Any]:
    """Redis stalled for a third of the run: paused (CLIENT PAUSE) or slowed (DEBUG SLEEP in
    a loop); nothing is lost, only delayed."""
    stalls: dict[str, Stall] = {"pause": _pause, "slow": _slow}
    length = seconds / 3
    with stack() as running:
        action = Action(length, f"{how} redis", _hold(running, stalls[how], length))
        run = _drive(running, rate, seconds, [action])
        _settle(running)
        figures = answers(run, _window(run), running.deadline_ms)
        return {**figures, **check(run, running.client())}


def _pause(client: redis.Redis) -> None:
    client.execute_command("CLIENT", "PAUSE", 1000, "ALL")  # type: ignore[no-untyped-call]
    time.sleep(1.0)


def _slow(client: redis.Redis) -> None:
    client.execute_command("DEBUG", "SLEEP", 2)  # type: ignore[no-untyped-call]


def _window(run: Run) -> tuple[float, float]:
    """From the first action's start to the end of the last: the outage."""
    if not run.actions:
        return (0.0, 0.0)
    return (min(a[0] for a in run.actions), max(a[1] for a in run.actions))


SCENARIOS: dict[str, Callable[[float, float], dict[str, Any]]] = {
    "kill": kill_redis,
    "sigterm": stop_service_while_redis_is_down,
    "pause": lambda rate, seconds: stall_redis("pause", rate, seconds),
    "slow": lambda rate, seconds: stall_redis("slow", rate, seconds),
}


def run(names: list[str], rate: float, seconds: dict[str, float], out: Path) -> dict[str, Any]:
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "rate": rate,
        "deadline_ms": Settings.from_env().redis_deadline_ms,
        "scenarios": {},
    }
    for name in names:
        print(f"fault run {name}: {rate:g} requests/s for {seconds[name]:g} s", flush=True)
        report["scenarios"][name] = SCENARIOS[name](rate, seconds[name])
    out.mkdir(parents=True, exist_ok=True)
    (out / "faults.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
