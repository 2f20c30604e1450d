"""The log training learns from: every event and every decision, on Redis streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import msgspec
from msgspec import Struct

from service.redis_client import Client, Pipe
from service.schema import StoredEvent

EVENTS_STREAM = "w:stream:events"
DECISIONS_STREAM = "w:stream:decisions"
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


def queue_events(pipe: Pipe, events: Iterable[StoredEvent]) -> None:
    for event in events:
        pipe.xadd(EVENTS_STREAM, {"e": _encode(event)}, maxlen=STREAM_MAXLEN, approximate=True)


def queue_decision(pipe: Pipe, log: DecisionLog) -> None:
    pipe.xadd(DECISIONS_STREAM, {"d": _encode(log)}, maxlen=STREAM_MAXLEN, approximate=True)


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
