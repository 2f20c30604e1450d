"""`witryna serve` as `make run` starts it: no WITRYNA_REDIS_URL, so a private Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
import redis

from service.schema import StoredEvent
from service.storage.keys import events_key, logged_key, profile_key
from service.storage.server import free_port
from tests._support.stack import KEYS_ENV, MODELS, ROOT, SECRET, wait_ready


def redis_children(parent: int) -> list[tuple[int, int]]:
    """(pid, port) of every redis-server whose parent is ``parent``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes().decode().strip("\0 ")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        # redis-server retitles itself "redis-server 127.0.0.1:PORT".
        if ppid == parent and "redis-server" in title:
            found.append((int(entry.name), int(title.rsplit(":", 1)[1])))
    return found


def test_private_redis_holds_exactly_the_three_views_and_stops_with_the_service(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WITRYNA_")}
    env["WITRYNA_MODELS_DIR"] = str(MODELS)
    env["WITRYNA_DATA_DIR"] = str(tmp_path)
    env |= KEYS_ENV
    command = [sys.executable, "-m", "service", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
        ((redis_pid, redis_port),) = redis_children(server.pid)
        pages = [{"type": "home"}, {"type": "category", "category": "tv"}, {"type": "cart"}]
        with httpx.Client(headers=SECRET, base_url=url) as http:
            for page in pages:
                answer = http.post("/v1/page-views", json={"visitor_id": "v-42", "page": page})
                assert answer.status_code == 200
                assert set(answer.json()) == {
                    "decision_id", "visitor_id", "model_version", "intent", "slots", "degraded",
                    "experiments",
                }  # fmt: skip
        client = redis.Redis(port=redis_port)
        decode = msgspec.msgpack.Decoder(StoredEvent).decode
        kept = [decode(raw) for raw in client.zrange(events_key("v-42"), 0, -1)]
        assert [e.type for e in kept] == ["home_view", "category_view", "cart_view"]
        # The index of its log entries comes as the logs are written, up to 100 ms later.
        assert set(client.keys("w:{v-42}*")) - {logged_key("v-42").encode()} == {
            events_key("v-42").encode(),
            profile_key("v-42").encode(),
        }
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=15)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{redis_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{redis_pid}").exists(), "the private redis-server outlived the service"
