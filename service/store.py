"""Visitor histories in Redis: one round trip per page view, nothing lost while Redis is away."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable, Sequence

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from service.errors import BufferFull
from service.schema import StoredEvent

log = logging.getLogger(__name__)

_encode = msgspec.msgpack.Encoder().encode
_decode_event = msgspec.msgpack.Decoder(StoredEvent).decode


def events_key(visitor_id: str) -> str:
    """Every key of a visitor carries its hash tag: one Redis Cluster slot holds them all."""
    return f"w:{{{visitor_id}}}:events"


def connect(url: str, timeout_ms: int) -> aioredis.Redis:
    # No retries: a storefront waiting on a dead Redis is worse than a degraded answer now.
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout_ms / 1000,
        socket_connect_timeout=timeout_ms / 1000,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class EventStore:
    """Recent events per visitor, capped at ``history_len`` and expiring after ``ttl_s``."""

    def __init__(
        self, client: aioredis.Redis, history_len: int, ttl_s: int, buffer_limit: int
    ) -> None:
        self.client = client
        self.history_len = history_len
        self.ttl_s = ttl_s
        self.buffer_limit = buffer_limit
        self.pending: deque[StoredEvent] = deque()

    async def append_and_read(self, event: StoredEvent) -> list[StoredEvent] | None:
        """Append one event and read the visitor's last events in one round trip.

        Returns None when Redis is unreachable; the event then waits in the buffer.
        """
        if self.pending and not await self.flush():
            self._buffer([event], strict=False)
            return None
        key = events_key(event.visitor_id)
        pipe = self.client.pipeline(transaction=True)
        self._queue_append(pipe, key, [_encode(event)])
        pipe.lrange(key, -self.history_len, -1)
        try:
            results = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("redis unreachable, page view buffered: %s", exc)
            self._buffer([event], strict=False)
            return None
        return [_decode_event(raw) for raw in results[-1]]

    async def append_many(self, events: Sequence[StoredEvent]) -> int:
        """Append a batch; returns how many had to be buffered. Raises BufferFull if none fit."""
        if self.pending and not await self.flush():
            self._buffer(events, strict=True)
            return len(events)
        try:
            await self._write(events)
        except (RedisError, OSError) as exc:
            log.warning("redis unreachable, %d events buffered: %s", len(events), exc)
            self._buffer(events, strict=True)
            return len(events)
        return 0

    async def flush(self) -> bool:
        """Write buffered events in arrival order; True when the buffer is empty afterwards."""
        if not self.pending:
            return True
        batch = list(self.pending)
        try:
            await self._write(batch)
        except (RedisError, OSError):
            return False
        for _ in batch:
            self.pending.popleft()
        log.info("flushed %d buffered events to redis", len(batch))
        return not self.pending

    async def read(self, visitor_id: str) -> list[StoredEvent]:
        raw = await self.client.lrange(events_key(visitor_id), 0, -1)
        return [_decode_event(item) for item in raw if isinstance(item, bytes)]

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def flush_forever(self, interval_s: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval_s)
            if self.pending:
                await self.flush()

    async def _write(self, events: Iterable[StoredEvent]) -> None:
        by_key: dict[str, list[bytes]] = {}
        for event in events:
            by_key.setdefault(events_key(event.visitor_id), []).append(_encode(event))
        pipe = self.client.pipeline(transaction=False)
        for key, payloads in by_key.items():
            self._queue_append(pipe, key, payloads)
        await pipe.execute()

    def _queue_append(
        self, pipe: aioredis.client.Pipeline, key: str, payloads: list[bytes]
    ) -> None:
        pipe.rpush(key, *payloads)
        pipe.ltrim(key, -self.history_len, -1)
        pipe.expire(key, self.ttl_s)

    def _buffer(self, events: Sequence[StoredEvent], strict: bool) -> None:
        room = self.buffer_limit - len(self.pending)
        if len(events) > room:
            if strict:
                raise BufferFull(
                    f"redis is unreachable and the buffer of {self.buffer_limit} events is full"
                )
            log.error("redis unreachable and buffer full: %d page views not kept", len(events))
            events = events[:room]
        self.pending.extend(events)
