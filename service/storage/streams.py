"""The log training learns from: every event and every decision, on Redis streams."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import msgspec
from msgspec import Struct
from redis.asyncio.cluster import RedisCluster

from service.schema import StoredEvent
from service.storage import scripts
from service.storage.client import Client
from service.storage.keys import (
    DECISIONS_STREAM,
    EVENTS_STREAM,
    TALLIES_KEY,
    erased_key,
    logged_key,
)

# Streams are trimmed approximately: exact trimming costs a full scan per write.
STREAM_MAXLEN = 5_000_000
# An index outlives the retention of the entries it names by this much: a cluster trims by the
# worker's clock, and its clock may be behind Redis's.
INDEX_GRACE_S = 3600
# The stream an index entry's prefix names.
STREAM_OF = {"e": EVENTS_STREAM, "d": DECISIONS_STREAM}


def logged_member(what: str, entry_id: Any) -> str:
    """An index entry: which stream (``STREAM_OF``) and the entry's id there."""
    return f"{what}|{entry_id.decode() if isinstance(entry_id, bytes) else entry_id}"


def _index_ttl(retention_s: int) -> int:
    return retention_s + INDEX_GRACE_S


class SlotLog(Struct, kw_only=True):
    slot: str
    variant: str
    propensity: float
    reasons: list[str]
    arm: str | None = None


class DecisionLog(Struct, kw_only=True):
    decision_id: str
    visitor_id: str
    ts: float
    model_version: str
    page_type: str
    intent: str
    buy_prob: float | None
    uplift: float | None
    experiments: dict[str, str]
    slots: list[SlotLog]
    degraded: bool


_encode = msgspec.msgpack.Encoder().encode
_decode_event = msgspec.msgpack.Decoder(StoredEvent).decode
_decode_decision = msgspec.msgpack.Decoder(DecisionLog).decode
_json = msgspec.json.Encoder()


async def erasures(client: Client, ids: Iterable[str]) -> dict[str, float]:
    """When each of ``ids`` that was erased lately was erased, by its mark; one MGET."""
    ordered = sorted(set(ids))
    if not ordered:
        return {}
    marks = await client.mget([erased_key(i) for i in ordered])
    return {i: float(m) for i, m in zip(ordered, marks, strict=True) if m is not None}


class _Write(Struct, frozen=True):
    what: str
    key: str
    value: bytes | str
    visitor: str
    ts: float


class Logs:
    """Entries for the streams and members for the experiment sets, written in one go, with
    each writer's index of its entries (``logged_key``) and the registry of tallies.

    On one Redis they go as one script call: redis-py spends more on a pipelined command
    than Redis does on an XADD. A cluster spreads the keys over nodes, so there they go as
    a pipeline, which the cluster client splits by node, and the index, which needs the
    entry ids, as a second one: an entry whose index write is lost to a failure in between
    is not found by an erasure.
    """

    def __init__(self) -> None:
        self.writes: list[_Write] = []

    def events(self, events: Iterable[StoredEvent]) -> None:
        self.writes.extend(
            _Write("e", EVENTS_STREAM, _encode(e), e.visitor_id, e.ts or 0.0) for e in events
        )

    def decision(self, log: DecisionLog) -> None:
        self.writes.append(_Write("d", DECISIONS_STREAM, _encode(log), log.visitor_id, log.ts))

    def member(self, key: str, visitor: str, ts: float) -> None:
        self.writes.append(_Write("s", key, visitor, visitor, ts))

    async def write(self, client: Client, retention_s: int) -> list[Any]:
        """Write everything, dropping stream entries older than ``retention_s``; returns what
        ``forget_erased`` needs: each write's entry id."""
        if isinstance(client, RedisCluster):
            return await self._write_cluster(client, retention_s)
        keys = {TALLIES_KEY: 1}
        args: list[bytes | str | int] = [STREAM_MAXLEN, retention_s * 1000]
        args += [_index_ttl(retention_s), keys[TALLIES_KEY]]
        for w in self.writes:
            index = 0 if w.what == "s" else keys.setdefault(logged_key(w.visitor), len(keys) + 1)
            args += [w.what, keys.setdefault(w.key, len(keys) + 1), w.value, index]
        ids: list[Any] = await client.eval(scripts.WRITE_LOGS, len(keys), *keys, *args)
        return ids

    async def _write_cluster(self, client: RedisCluster, retention_s: int) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        # By this worker's clock, not Redis's: the index outlives the retention by a margin.
        oldest = f"{int((time.time() - retention_s) * 1000)}-0"
        streams = sorted({w.key for w in self.writes if w.what != "s"})
        for stream in streams:
            pipe.xtrim(stream, minid=oldest, approximate=False)
        trims = len(streams)
        for w in self.writes:
            if w.what == "s":
                pipe.sadd(w.key, w.value)
            else:
                pipe.xadd(w.key, {w.what: w.value}, maxlen=STREAM_MAXLEN, approximate=True)
        for tally in sorted({w.key for w in self.writes if w.what == "s"}):
            pipe.sadd(TALLIES_KEY, tally)
        replies = (await pipe.execute())[trims : trims + len(self.writes)]
        written = [0 if w.what == "s" else r for w, r in zip(self.writes, replies, strict=True)]
        index = client.pipeline(transaction=False)
        for w, entry in zip(self.writes, written, strict=True):
            if w.what != "s":
                index.sadd(logged_key(w.visitor), logged_member(w.what, entry))
                index.expire(logged_key(w.visitor), _index_ttl(retention_s))
        await index.execute()
        return written

    async def forget_erased(self, client: Client, written: list[Any]) -> int:
        """Take back the writes of ids erased meanwhile; returns how many.

        An erasure marks its ids before it reads their indexes. So a write either lands
        before that read, which finds it, or this check, run after the write, finds the mark.
        """
        erased_at = await erasures(client, {w.visitor for w in self.writes})
        if not erased_at:
            return 0
        doomed = [
            (w, entry)
            for w, entry in zip(self.writes, written, strict=True)
            if w.visitor in erased_at and w.ts <= erased_at[w.visitor]
        ]
        pipe = client.pipeline(transaction=False)
        for w, entry in doomed:
            if w.what == "s":
                pipe.srem(w.key, w.visitor)
            else:
                pipe.xdel(w.key, entry)
                pipe.srem(logged_key(w.visitor), logged_member(w.what, entry))
        await pipe.execute()
        return len(doomed)


async def entries(
    client: Client, stream: str, chunk: int = 1000
) -> AsyncIterator[tuple[str, bytes]]:
    """``(entry id, payload)`` of every entry, oldest first, read ``chunk`` at a time."""
    start = "-"
    while True:
        batch = await client.xrange(stream, min=start, max="+", count=chunk) or []
        for raw_id, fields in batch:
            if raw_id is None:
                continue
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            payload = next(iter((fields or {}).values()), b"")
            yield entry_id, payload if isinstance(payload, bytes) else payload.encode()
            start = f"({entry_id}"
        if len(batch) < chunk:
            return


async def export(client: Client, events_out: Path, decisions_out: Path | None) -> tuple[int, int]:
    """Write the streams as JSONL: events in the one event schema, then decisions."""
    counts = [0, 0]
    targets = [
        (EVENTS_STREAM, events_out, _decode_event),
        (DECISIONS_STREAM, decisions_out, _decode_decision),
    ]
    for index, (stream, path, decode) in enumerate(targets):
        if path is None:
            continue
        with path.open("wb") as out:
            async for _, payload in entries(client, stream):
                out.write(_json.encode(decode(payload)) + b"\n")
                counts[index] += 1
    return counts[0], counts[1]
