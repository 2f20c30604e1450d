"""Erasure finds a person's stream entries through its index and its tallies through their
registry: exactly those go, and nobody else's."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import msgspec

from service.schema import StoredEvent
from service.storage.client import connect
from service.storage.erasure import Erased
from service.storage.identity import Identify, Identities
from service.storage.keys import (
    DECISIONS_STREAM,
    EVENTS_STREAM,
    TALLIES_KEY,
    converted_key,
    exposed_key,
    logged_key,
)
from service.storage.streams import DecisionLog, Logs
from tests._support.stack import ROOT, Backend, RedisClient
from tests._support.stores import event_store

T0 = 1_763_900_000.0
DAY_S = 86_400


class _Whose(msgspec.Struct):
    visitor_id: str


decode_whose = msgspec.msgpack.Decoder(_Whose).decode
encode = msgspec.msgpack.Encoder().encode


def decision(visitor: str, n: int) -> DecisionLog:
    return DecisionLog(
        decision_id=f"d-{visitor}-{n}", visitor_id=visitor, ts=T0 + n, model_version="m",
        page_type="cart", intent="buy", buy_prob=0.9, uplift=None,
        experiments={"hero": "a"}, slots=[], degraded=False,
    )  # fmt: skip


def logged(visitors: list[str]) -> Logs:
    logs = Logs()
    for n, visitor in enumerate(visitors):
        logs.events([StoredEvent(visitor_id=visitor, type="purchase", item_id="tv", ts=T0 + n)])
        logs.decision(decision(visitor, n))
        logs.member(exposed_key("hero", "a"), visitor, T0 + n)
        logs.member(converted_key("price", "b"), visitor, T0 + n)
    return logs


def owners(client: RedisClient, stream: str) -> list[str]:
    return [decode_whose(next(iter(f.values()))).visitor_id for _, f in client.xrange(stream)]


def test_erasure_deletes_the_entries_its_indexes_name_and_no_others(
    backend: Backend, redis_client: RedisClient
) -> None:
    people = ["web-x", "cust-x", "bystander", "web-x", "app-x", "bystander", "cust-x"]
    # An entry of the person logged before indexes existed: no index names it.
    unindexed = StoredEvent(visitor_id="cust-x", type="help", ts=T0)
    redis_client.xadd(EVENTS_STREAM, {"e": encode(unindexed)})

    async def scenario() -> Erased:
        store = event_store(backend.url, backend.cluster, ttl_s=600)
        ids = Identities(store)
        await logged(people).write(store.client, DAY_S)
        for device in ("web-x", "app-x"):
            await ids.identify(Identify(visitor_id=device, customer_id="cust-x"))
        erased = await ids.erase("app-x")
        await store.close()
        return erased

    erased = asyncio.run(scenario())
    assert erased.ids == ["app-x", "cust-x", "web-x"]
    assert erased.stream_entries == 10
    assert owners(redis_client, EVENTS_STREAM) == ["cust-x", "bystander", "bystander"]
    assert owners(redis_client, DECISIONS_STREAM) == ["bystander", "bystander"]
    assert not redis_client.exists(*(logged_key(i) for i in erased.ids))
    assert redis_client.scard(logged_key("bystander")) == 4
    for tally in (exposed_key("hero", "a"), converted_key("price", "b")):
        assert redis_client.smembers(tally) == {b"bystander"}
    assert redis_client.smembers(TALLIES_KEY) == {
        exposed_key("hero", "a").encode(),
        converted_key("price", "b").encode(),
    }


def test_the_streams_keep_nothing_older_than_the_retention(
    backend: Backend, redis_client: RedisClient
) -> None:
    """So no entry outlives the index naming it, which expires a while after the retention."""

    async def scenario() -> None:
        client = connect(backend.url, 1000, backend.cluster)
        await logged(["old"]).write(client, DAY_S)
        time.sleep(1.1)
        await logged(["new"]).write(client, 1)
        await client.aclose()

    asyncio.run(scenario())
    assert owners(redis_client, EVENTS_STREAM) == owners(redis_client, DECISIONS_STREAM) == ["new"]
    assert 1 < redis_client.ttl(logged_key("new")) <= 1 + 3600
    assert redis_client.ttl(logged_key("old")) > DAY_S


def test_what_was_logged_before_the_indexes_is_erased_once_reindexed(
    backend: Backend, redis_client: RedisClient
) -> None:
    """Entries and tallies written by a release without indexes: `witryna reindex-logs`."""
    for visitor in ("old-x", "old-y"):
        redis_client.xadd(
            EVENTS_STREAM, {"e": encode(StoredEvent(visitor_id=visitor, type="help"))}
        )
        redis_client.xadd(DECISIONS_STREAM, {"d": encode(decision(visitor, 1))})
        redis_client.sadd(exposed_key("legacy", "a"), visitor)
    result = subprocess.run(
        [sys.executable, "-m", "service", "reindex-logs", "--redis-url", backend.url],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, **backend.env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "4 stream entries indexed, 1 experiment tallies registered" in result.stdout

    async def scenario() -> Erased:
        store = event_store(backend.url, backend.cluster, ttl_s=600)
        erased = await Identities(store).erase("old-x")
        await store.close()
        return erased

    assert asyncio.run(scenario()).stream_entries == 2
    assert (
        owners(redis_client, EVENTS_STREAM) == owners(redis_client, DECISIONS_STREAM) == ["old-y"]
    )
    assert redis_client.smembers(exposed_key("legacy", "a")) == {b"old-y"}
