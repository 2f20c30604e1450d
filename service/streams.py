"""The log training learns from: every event and every decision, on Redis streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import msgspec
from msgspec import Struct
from redis.asyncio.cluster import RedisCluster

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


# KEYS: the keys written. ARGV: maxlen, then triples (what, key index, value): "e" or "d"
# appends the value to a stream under that field name, "s" adds it to a set.
WRITE_LOGS = """
local maxlen = ARGV[1]
for i = 2, #ARGV, 3 do
  local what, key = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if what == 's' then
    redis.call('SADD', key, ARGV[i + 2])
  else
    redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', what, ARGV[i + 2])
  end
end
return (#ARGV - 1) / 3
"""


class Logs:
    """Entries for the streams and members for the experiment sets, written in one go.

    On one Redis they go as one script call: redis-py spends more on a pipelined command
    than Redis does on an XADD. A cluster spreads the keys over nodes, so there they go as
    a pipeline, which the cluster client splits by node.
    """

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, bytes | str]] = []

    def events(self, events: Iterable[StoredEvent]) -> None:
        self.writes.extend(("e", EVENTS_STREAM, _encode(event)) for event in events)

    def decision(self, log: DecisionLog) -> None:
        self.writes.append(("d", DECISIONS_STREAM, _encode(log)))

    def member(self, key: str, member: str) -> None:
        self.writes.append(("s", key, member))

    async def write(self, client: Client) -> None:
        if isinstance(client, RedisCluster):
            await self._pipelined(client.pipeline(transaction=False))
            return
        keys: dict[str, int] = {}
        args: list[bytes | str | int] = [STREAM_MAXLEN]
        for what, key, value in self.writes:
            args += [what, keys.setdefault(key, len(keys) + 1), value]
        await client.eval(WRITE_LOGS, len(keys), *keys, *args)

    async def _pipelined(self, pipe: Pipe) -> None:
        for what, key, value in self.writes:
            if what == "s":
                pipe.sadd(key, value)
            else:
                pipe.xadd(key, {what: value}, maxlen=STREAM_MAXLEN, approximate=True)
        await pipe.execute()


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
