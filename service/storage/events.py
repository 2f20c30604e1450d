"""Histories and profiles in Redis: one round trip per page view, within a deadline, and
nothing lost while Redis is away: what it does not take waits in the journal. Events are kept
in time order, whatever order they arrive in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, cast

import msgspec
from msgspec import Struct
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from service.errors import BufferFull
from service.schema import StoredEvent
from service.storage import scripts
from service.storage.breaker import Breaker
from service.storage.client import UNREACHABLE, Client, queue_script
from service.storage.journal import Journal
from service.storage.keys import PROBE_KEY, alias_key, consent_key, events_key, profile_key
from service.storage.log_writer import LogWriter
from service.storage.pipe import PipedConnection
from service.storage.streams import erasures

# The profile counters a page view reads back: those its segments are made of.
PROFILE_FIELDS = (
    "ch:web", "ch:app", "ch:store", "ch:pos", "type:product_view", "type:purchase",
)  # fmt: skip

log = logging.getLogger(__name__)

# An event batch's Redis work may take this many page-view deadlines.
BATCH_DEADLINES = 10

_encode = msgspec.msgpack.Encoder().encode
decode_event = msgspec.msgpack.Decoder(StoredEvent).decode


class History(Struct, frozen=True, kw_only=True):
    """What one page view reads back: recent events in time order and the live profile."""

    events: list[StoredEvent]
    profile: dict[str, str]
    consent: bool = True


class Written(Struct, frozen=True, kw_only=True):
    buffered: int
    kept: list[StoredEvent]


def text(value: Any) -> str:
    """A Redis reply as text: the client answers in bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _args(event: StoredEvent, history_len: int, ttl_s: int, read: bool) -> list[Any]:
    ts = event.ts or 0.0
    # int(ts // 3600 % 24) is the UTC hour, as datetime.fromtimestamp gives it, for a
    # third of the cost: this runs on every page view.
    return [
        _encode(event), ts, event.type, event.category or "", event.channel,
        int(ts // 3600 % 24), "" if event.price is None else event.price,
        event.brand or "", history_len, ttl_s, "1" if read else "0",
        *(PROFILE_FIELDS if read else ()),
    ]  # fmt: skip


class EventStore:
    """Recent events per person, capped at ``history_len``; everything expires after ``ttl_s``."""

    def __init__(
        self,
        client: Client,
        history_len: int,
        ttl_s: int,
        journal: Journal,
        deadline_s: float,
        logs: LogWriter | None = None,
        pipe: PipedConnection | None = None,
        breaker: Breaker | None = None,
    ) -> None:
        self.client = client
        self.history_len = history_len
        self.ttl_s = ttl_s
        self.journal = journal
        # A request's Redis work ends here, answered or not: a slow Redis must not hold pages.
        self.deadline_s = deadline_s
        # Shared with the catalogue's reads: one view per worker of whether Redis answers.
        self.breaker = breaker if breaker is not None else Breaker()
        # One drain at a time: two would write the same journalled events.
        self.draining = asyncio.Lock()
        # Told which journalled events a drain kept: they are logged late rather than never.
        self.logs = logs
        self._record = client.register_script(scripts.RECORD)
        # The page view's own connection on a single Redis; None leaves it to ``client``.
        self.pipe = pipe

    def _keys(self, person: str) -> list[str]:
        return [alias_key(person), consent_key(person), events_key(person), profile_key(person)]

    async def append_and_read(self, event: StoredEvent) -> History | None:
        """Record one event and read the person's recent events and profile.

        One round trip, or two for an id linked to a customer. None when Redis fails, is
        slower than the deadline or is known to be failing; the event then waits in the
        journal.
        """
        if self.breaker.open:
            self._keep([event], strict=False)
            return None
        try:
            async with asyncio.timeout(self.deadline_s):
                reply = await self._record_and_read(event.visitor_id, event)
                if text(reply[0]) == "alias":
                    reply = await self._record_and_read(text(reply[1]), event)
        except (*UNREACHABLE, TimeoutError) as exc:
            self.breaker.failed(str(exc) or "past the deadline")
            self._keep([event], strict=False)
            return None
        self.breaker.succeeded()
        if text(reply[0]) == "noconsent":
            return History(events=[event], profile={}, consent=False)
        profile = {
            name: text(value)
            for name, value in zip(PROFILE_FIELDS, reply[2], strict=True)
            if value is not None
        }
        return History(events=[decode_event(raw) for raw in reply[1]], profile=profile)

    async def _record_and_read(self, person: str, event: StoredEvent) -> list[Any]:
        """The record script's reply, with the recent events and profile after ``"ok"``."""
        keys = self._keys(person)
        if self.pipe is None:
            # Through redis-py (a cluster, TLS, a socket): the script reads for itself.
            args = _args(event, self.history_len, self.ttl_s, read=True)
            reply: list[Any] = await self._record(keys=keys, args=args)
            return reply
        # Read outside the script, in the same write: Lua copying 50 events into a table
        # and back out cost Redis more than the write itself.
        args = _args(event, self.history_len, self.ttl_s, read=False)
        commands = [
            ("EVALSHA", self._record.sha, len(keys), *keys, *args),
            ("ZRANGE", keys[2], -self.history_len, -1),
            ("HMGET", keys[3], *PROFILE_FIELDS),
        ]
        replies = await self.pipe.call(commands)
        if _forgot_script(replies[0]):
            # A restarted or flushed Redis has lost the script; the reads came before any
            # write, so all three go again.
            await self.client.script_load(scripts.RECORD)
            replies = await self.pipe.call(commands)
        recorded, history, profile = _raised(replies)
        return [*recorded, history, profile] if text(recorded[0]) == "ok" else list(recorded)

    async def recent(self, person: str) -> list[StoredEvent]:
        """The person's recent events, and nothing else: the benchmark's floor."""
        key, first = events_key(person), -self.history_len
        raw: list[bytes]
        if self.pipe is None:
            raw = cast(list[bytes], await self.client.zrange(key, first, -1))
        else:
            (raw,) = _raised(await self.pipe.call([("ZRANGE", key, first, -1)]))
        return [decode_event(member) for member in raw]

    async def append_many(self, events: Sequence[StoredEvent], converts: bool = False) -> Written:
        """Record a batch, or journal it. Raises BufferFull when neither can take it.
        ``converts``: the batch's purchases convert experiment arms, journalled or not."""
        if self.breaker.open:
            self._keep(events, strict=True, converts=converts)
            return Written(buffered=len(events), kept=[])
        try:
            # A batch may carry a thousand events, and no page waits for it: ten deadlines.
            async with asyncio.timeout(self.deadline_s * BATCH_DEADLINES):
                kept = await self.write_checked(events)
        except (*UNREACHABLE, TimeoutError) as exc:
            # Some may be in Redis already: replayed, they are not added or counted again.
            self.breaker.failed(str(exc) or "past the deadline")
            self._keep(events, strict=True, converts=converts)
            return Written(buffered=len(events), kept=[])
        self.breaker.succeeded()
        return Written(buffered=0, kept=kept)

    async def write_checked(self, events: Sequence[StoredEvent]) -> list[StoredEvent]:
        """Write, then take back what an erasure has overtaken; returns the events kept."""
        written = await self._write(events)
        try:
            written = await self._take_back_erased(written)
        except UNREACHABLE as exc:
            log.error("events written, but not checked against erasures: %s", exc)
        return [event for event, _ in written]

    async def _write(self, events: Sequence[StoredEvent]) -> list[tuple[StoredEvent, str]]:
        """Two pipelined passes: each event to its id, then the linked ones to their person.

        Returns the events kept, each with the id it was written to: not those of visitors
        who said no to being remembered.
        """
        replies = await self._run([(e, e.visitor_id) for e in events])
        linked = [
            (e, text(r[1])) for e, r in zip(events, replies, strict=True) if text(r[0]) == "alias"
        ]
        if linked:
            replies += await self._run(linked)
        written = [*((e, e.visitor_id) for e in events), *linked]
        return [w for w, reply in zip(written, replies, strict=True) if text(reply[0]) == "ok"]

    async def _take_back_erased(
        self, written: list[tuple[StoredEvent, str]]
    ) -> list[tuple[StoredEvent, str]]:
        """``written`` less the events of ids erased after them, which are deleted again.

        Buffered events land late, and an app's may come dated days back: after their
        person was erased. An erasure marks its ids before it deletes their keys: a write
        either lands before the delete, which takes it, or this check, run after the write,
        finds the mark. The id's profile goes whole, as counters cannot tell which events
        they counted.
        """
        erased_at = await erasures(self.client, (person for _, person in written))
        doomed: list[tuple[StoredEvent, str]] = []
        kept: list[tuple[StoredEvent, str]] = []
        for event, person in written:
            overtaken = person in erased_at and (event.ts or 0.0) <= erased_at[person]
            (doomed if overtaken else kept).append((event, person))
        if not doomed:
            return written
        pipe = self.client.pipeline(transaction=False)
        for event, person in doomed:
            pipe.zrem(events_key(person), _encode(event))
        for person in sorted({person for _, person in doomed}):
            pipe.delete(profile_key(person))
        await pipe.execute()
        log.info("%d events of erased ids deleted again", len(doomed))
        return kept

    async def _run(self, writes: Sequence[tuple[StoredEvent, str]]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for event, person in writes:
            keys, args = self._keys(person), _args(event, self.history_len, self.ttl_s, read=False)
            await queue_script(pipe, self._record, scripts.RECORD, keys, args)
        replies: list[Any] = await pipe.execute()
        return replies

    async def ping(self) -> bool:
        """Whether Redis takes a write within the deadline: a paused or read-only Redis
        answers PING, and fails every page view."""
        try:
            async with asyncio.timeout(self.deadline_s):
                if isinstance(self.client, RedisCluster):
                    # Each primary holds a share of the visitors: up only when all answer.
                    return bool(await self.client.ping(target_nodes=RedisCluster.PRIMARIES))
                return bool(await self.client.set(PROBE_KEY, "1", px=60_000))
        except (*UNREACHABLE, TimeoutError):
            return False

    async def close(self) -> None:
        if self.pipe is not None:
            self.pipe.close()
        await self.client.aclose()

    def _keep(self, events: Sequence[StoredEvent], strict: bool, converts: bool = False) -> None:
        """Journal what Redis did not take; a full journal refuses a batch (503, the SDK
        sends it again) and drops a page view's own event, whose page is answered anyway."""
        try:
            self.journal.append(events, converts)
        except BufferFull:
            if strict:
                raise
            log.error("redis failing and the journal full: a page view's event not kept")


def _forgot_script(reply: Any) -> bool:
    return isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT")


def _raised(replies: list[Any]) -> list[Any]:
    """``replies``, once none of them is an error."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies
