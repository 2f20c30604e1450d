"""What a shop gave Witryna survives restarts: of `witryna serve` with its private Redis, kept
in the data dir, and of an external Redis with AOF killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from service.storage.keys import HOUSEKEEPING, erased_key, field_key
from service.storage.log_writer import LOG_INTERVAL_S
from service.storage.server import RedisServer
from tests._support.stack import ROOT, SECRET, Service, wait_for
from tests.service.cli.test_serve import redis_children

EXPERIMENT = "cart-incentive"
ITEM = {"item_id": "dur-sku-1", "category": "tv", "price": 499.0, "margin": 0.2,
        "in_stock": True, "tags": ["oled"]}  # fmt: skip
# Changes every second or every request: not the shop's data, so not compared.
DISPOSABLE = HOUSEKEEPING


def write_everything(url: str) -> None:
    """A history and profile, a link, a refused consent, a catalogue item, an erasure and
    experiment tallies: each kind of key a restart must keep."""
    with httpx.Client(base_url=url, headers=SECRET, timeout=10.0) as http:
        for visitor in ("dur-anna", "dur-anon", "dur-gone"):
            view = {"visitor_id": visitor, "page": {"type": "cart"}}
            assert http.post("/v1/page-views", json=view).status_code == 200
        events = [{"visitor_id": "dur-anna", "type": "product_view", "item_id": "dur-sku-1"},
                  {"visitor_id": "dur-anna", "type": "purchase", "item_id": "dur-sku-1",
                   "price": 499.0}]  # fmt: skip
        assert http.post("/v1/events", json={"events": events}).status_code == 202
        link = {"visitor_id": "dur-anon", "customer_id": "dur-anna"}
        assert http.post("/v1/identify", json=link).status_code == 200
        refused = http.put("/v1/visitors/dur-nope/consent", json={"consent": False})
        assert refused.is_success, refused.text
        assert http.put("/v1/catalog/items", json={"items": [ITEM]}).is_success
        assert http.delete("/v1/visitors/dur-gone").status_code == 200
    # Logs and experiment tallies are written by each worker every LOG_INTERVAL_S.
    time.sleep(4 * LOG_INTERVAL_S)


def read_back(url: str) -> dict[str, Any]:
    """What the API tells of it, but for what the clock changes."""
    with httpx.Client(base_url=url, headers=SECRET, timeout=10.0) as http:
        read = {
            person: http.get(f"/v1/visitors/{person}/profile").raise_for_status().json()
            for person in ("dur-anna", "dur-anon", "dur-nope")
        }
        read["experiment"] = http.get(f"/v1/experiments/{EXPERIMENT}").raise_for_status().json()
    for person in ("dur-anna", "dur-anon", "dur-nope"):
        read[person].pop("recency_s")
    return read


def read_back_once_answering(url: str, timeout_s: float = 20.0) -> dict[str, Any] | None:
    """``read_back`` once every read of it answers. Right after Redis restarts, each pooled
    connection that Redis closed fails its next command once (a 503 naming it, by design
    without retries), so a read is retried until one whole pass answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return read_back(url)
        except httpx.HTTPStatusError:
            time.sleep(0.05)
    return None


def stored(client: redis.Redis) -> dict[bytes, object]:
    """Every key the shop's data lives in, with what it holds; sets unordered, since a set
    replayed from the append-only file may list its members in another order."""
    read = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"set": lambda key: sorted(client.smembers(key)),
        b"zset": lambda key: client.zrange(key, 0, -1, withscores=True),
        b"stream": client.xrange,
    }
    keys = [k for k in client.keys("*") if not k.decode().startswith(DISPOSABLE)]
    return {key: read[client.type(key)](key) for key in sorted(keys)}


def assert_written(read: dict[str, Any], keys: dict[bytes, bytes | None]) -> None:
    """The writes landed, so that finding them again after the restart proves something."""
    anna = read["dur-anna"]
    assert anna["linked_ids"] == ["dur-anon"]
    assert anna["purchases"] == 1
    assert [e["type"] for e in anna["history"]] == ["cart_view", "cart_view", "product_view",
                                                    "purchase"]  # fmt: skip
    assert read["dur-nope"]["consent"] is False
    # Three cart views exposed, one of them erased since.
    assert sum(arm["exposures"] for arm in read["experiment"]["arms"]) == 2
    assert sum(arm["conversions"] for arm in read["experiment"]["arms"]) == 1
    assert erased_key("dur-gone").encode() in keys
    assert field_key("price").encode() in keys


def private_redis(service: Service) -> redis.Redis:
    assert service.process is not None
    ((_, port),) = redis_children(service.process.pid)
    return redis.Redis(port=port)


def test_serve_with_its_private_redis_keeps_everything_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Service(None, WITRYNA_DATA_DIR=str(data)) as first:
        write_everything(first.url)
        before = read_back(first.url)
        with private_redis(first) as client:
            kept = stored(client)
            assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert_written(before, kept)
    assert (data / "redis" / "appendonlydir").is_dir()
    with Service(None, WITRYNA_DATA_DIR=str(data)) as second:
        with private_redis(second) as client:
            assert stored(client) == kept
            assert client.hget(field_key("price"), "dur-sku-1") == b"499.0"
        assert read_back(second.url) == before


def test_an_external_redis_with_aof_killed_outright_keeps_everything(tmp_path: Path) -> None:
    server = RedisServer(data_dir=tmp_path / "redis", appendfsync="everysec")
    with server, Service(server.url) as service:
        with httpx.Client() as http:
            ready = http.get(f"{service.url}/readyz", headers=SECRET).json()
        assert ready["persistence"] == "aof everysec"
        write_everything(service.url)
        before = read_back(service.url)
        # everysec: what reached Redis more than a second ago is on disk.
        time.sleep(1.5)
        with redis.Redis.from_url(server.url) as client:
            kept = stored(client)
        os.kill(server.pid, signal.SIGKILL)
        server.stop()
        server.start()
        with redis.Redis.from_url(server.url) as client:
            assert stored(client) == kept
        assert_written(before, kept)
        # The breaker closes after three good probes; a busy machine takes a while.
        wait_for(lambda: httpx.get(f"{service.url}/readyz").status_code == 200)
        assert read_back_once_answering(service.url) == before


def test_a_data_dir_that_cannot_be_written_stops_serve_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"PATH": "/usr/bin:/bin", "WITRYNA_DATA_DIR": str(blocker / "data")}
    refused = subprocess.run(
        [sys.executable, "-m", "service", "serve"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    (line,) = refused.stderr.splitlines()
    assert line.startswith(f"witryna: error: WITRYNA_DATA_DIR='{blocker / 'data'}'")
    assert "cannot be created or written" in line


def test_two_services_cannot_share_one_private_redis(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Service(None, WITRYNA_DATA_DIR=str(data)):
        env = {"PATH": "/usr/bin:/bin", "WITRYNA_DATA_DIR": str(data)}
        refused = subprocess.run(
            [sys.executable, "-m", "service", "serve", "--port", "0"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert refused.returncode == 2
    assert "another witryna serve keeps its Redis in" in refused.stderr
