"""The log training learns from: every event and every decision, on Redis streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import msgspec
from msgspec import Struct
from redis.asyncio.cluster import RedisCluster

from service.schema import StoredEvent
from service.storage import scripts
from service.storage.client import Client
from service.storage.keys import DECISIONS_STREAM, EVENTS_STREAM, erased_key

# Streams are trimmed approximately: exact trimming costs a full scan per write.
STREAM_MAXLEN = 5_000_000


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
    """Entries for the streams and members for the experiment sets, written in one go.

    On one Redis they go as one script call: redis-py spends more on a pipelined command
    than Redis does on an XADD. A cluster spreads the keys over nodes, so there they go as
    a pipeline, which the cluster client splits by node.
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

    async def write(self, client: Client) -> list[Any]:
        """Write everything; returns what ``forget_erased`` needs: each write's entry id."""
        if isinstance(client, RedisCluster):
            pipe = client.pipeline(transaction=False)
            for w in self.writes:
                if w.what == "s":
                    pipe.sadd(w.key, w.value)
                else:
                    pipe.xadd(w.key, {w.what: w.value}, maxlen=STREAM_MAXLEN, approximate=True)
            replies: list[Any] = await pipe.execute()
            return replies
        keys: dict[str, int] = {}
        args: list[bytes | str | int] = [STREAM_MAXLEN]
        for w in self.writes:
            args += [w.what, keys.setdefault(w.key, len(keys) + 1), w.value]
        ids: list[Any] = await client.eval(scripts.WRITE_LOGS, len(keys), *keys, *args)
        return ids

    async def forget_erased(self, client: Client, written: list[Any]) -> int:
        """Take back the writes of ids erased meanwhile; returns how many.

        An erasure marks its ids before it scrubs the streams. So a write either lands
        before the scrub, which finds it, or this check, run after the write, finds the mark.
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
