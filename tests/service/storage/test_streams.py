"""`witryna export-events` writes the logged streams that training reads back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from service.storage.keys import field_key
from tests._support.stack import ROOT, SECRET_KEY, Backend, RedisClient, wait_for
from training.data.events_jsonl import read_events_jsonl


def test_exported_events_and_decisions_read_back_for_training(
    http: httpx.Client, redis_client: RedisClient, backend: Backend, tmp_path: Path
) -> None:
    http.post("/v1/page-views", json={"visitor_id": "v-x", "page": {"type": "home"}})
    batch = [
        {"visitor_id": "v-x", "type": "add_to_cart", "item_id": "sku-1", "channel": "app"},
        {"visitor_id": "v-y", "type": "purchase", "item_id": "sku-2", "channel": "pos"},
    ]
    http.post("/v1/events", json={"events": batch})
    wait_for(lambda: redis_client.xlen("w:stream:events") == 3)

    events, decisions = tmp_path / "events.jsonl", tmp_path / "decisions.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "service", "export-events", "--out", str(events),
         "--decisions", str(decisions), "--redis-url", backend.url],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, **backend.env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "3 events" in result.stdout
    read = read_events_jsonl(events)
    assert [(e.visitor_id, e.type, e.channel) for e in read] == [
        ("v-x", "home_view", "web"),
        ("v-x", "add_to_cart", "app"),
        ("v-y", "purchase", "pos"),
    ]
    (decision,) = [json.loads(line) for line in decisions.read_text().splitlines()]
    assert decision["visitor_id"] == "v-x"
    assert {s["slot"] for s in decision["slots"]} == {"hero", "recommendations"}


def load_catalog(path: Path, url: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "service", "load-catalog", str(path), "--url", url,
               "--key", SECRET_KEY]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_load_catalog_puts_every_item_into_the_service(
    http: httpx.Client, redis_client: RedisClient, tmp_path: Path
) -> None:
    lines = [json.dumps({"item_id": f"sku-{i}", "category": "tv", "in_stock": i % 2 == 0})
             for i in range(2500)]  # fmt: skip
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("\n".join(lines) + "\n")
    result = load_catalog(catalog, str(http.base_url))
    assert result.returncode == 0, result.stderr
    assert "2500 items loaded" in result.stdout
    assert redis_client.hget(field_key("in_stock"), "sku-7") == b"0"
    assert redis_client.hget(field_key("in_stock"), "sku-2498") == b"1"

    catalog.write_text(lines[0] + "\n" + '{"item_id": "sku-x", "price": "free"}\n')
    bad = load_catalog(catalog, str(http.base_url))
    assert bad.returncode == 2
    assert f"{catalog}:2:" in bad.stderr
