"""One person across ids and channels: linking, the live profile, consent and erasure."""

from __future__ import annotations

import time
from collections import Counter

import msgspec
from msgspec import Struct

from service.errors import WitrynaError
from service.schema import StoredEvent, VisitorId
from service.storage import scripts
from service.storage.client import Client
from service.storage.events import EventStore, decode_event, text
from service.storage.keys import (
    DECISIONS_STREAM,
    EVENTS_STREAM,
    alias_key,
    aliases_key,
    consent_key,
    erased_key,
    events_key,
    person_keys,
    profile_key,
)
from service.storage.streams import entries

DAY_S = 86_400.0
# How long an erasure's mark outlives it: longer than any log write can wait for Redis.
ERASED_MARK_S = int(DAY_S)
PRICE_BANDS = ((25.0, "budget"), (100.0, "mid"), (float("inf"), "premium"))


class Identify(Struct, forbid_unknown_fields=True, kw_only=True):
    visitor_id: VisitorId
    customer_id: VisitorId


class Linked(Struct, kw_only=True):
    visitor_id: str
    customer_id: str
    merged_events: int
    already_linked: bool


class Consent(Struct, forbid_unknown_fields=True, kw_only=True):
    consent: bool


class Profile(Struct, kw_only=True):
    person_id: str
    linked_ids: list[str]
    consent: bool
    events: int
    purchases: int
    first_seen: float | None
    last_seen: float | None
    recency_s: float | None
    events_per_day: float | None
    categories: dict[str, int]
    brands: dict[str, int]
    channels: dict[str, int]
    preferred_channel: str | None
    preferred_hours: list[int]
    average_price: float | None
    price_band: str | None
    history: list[StoredEvent]


class Erased(Struct, kw_only=True):
    person_id: str
    ids: list[str]
    keys: int
    stream_entries: int


class LinkConflict(WitrynaError):
    status_code = 409
    title = "Already linked"


def _top(fields: dict[str, str], prefix: str, n: int = 5) -> dict[str, int]:
    counts = Counter({k[len(prefix) :]: int(v) for k, v in fields.items() if k.startswith(prefix)})
    return dict(counts.most_common(n))


def describe(person: str, linked: list[str], consent: bool, fields: dict[str, str],
             history: list[StoredEvent], now: float) -> Profile:  # fmt: skip
    """The profile as people read it, from the counters the write path keeps."""
    events = int(fields.get("n", 0))
    first = float(fields["first_ts"]) if "first_ts" in fields else None
    last = float(fields["last_ts"]) if "last_ts" in fields else None
    # Frequency over the person's known span, at least a day, so one busy hour is not 24/day.
    days = max(1.0, (last - first) / DAY_S) if first is not None and last is not None else None
    channels = _top(fields, "ch:", 10)
    hours = _top(fields, "hour:", 3)
    priced = int(fields.get("price_n", 0))
    average = float(fields["price_sum"]) / priced if priced else None
    return Profile(
        person_id=person,
        linked_ids=linked,
        consent=consent,
        events=events,
        purchases=int(fields.get("type:purchase", 0)),
        first_seen=first,
        last_seen=last,
        recency_s=None if last is None else max(0.0, now - last),
        events_per_day=None if days is None else events / days,
        categories=_top(fields, "cat:"),
        brands=_top(fields, "brand:"),
        channels=channels,
        preferred_channel=next(iter(channels), None),
        preferred_hours=[int(h) for h in hours],
        average_price=average,
        price_band=None if average is None else next(b for top, b in PRICE_BANDS if average < top),
        history=history,
    )


class Identities:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.client: Client = store.client
        self._take = self.client.register_script(scripts.TAKE)

    async def person_of(self, visitor: str) -> str:
        person = await self.client.get(alias_key(visitor))
        return visitor if person is None else text(person)

    async def identify(self, request: Identify) -> Linked:
        """Link an anonymous id to a customer, once; its events move to the customer."""
        visitor, customer = request.visitor_id, request.customer_id
        if visitor == customer:
            return Linked(
                visitor_id=visitor, customer_id=customer, merged_events=0, already_linked=True
            )
        if await self.client.exists(alias_key(customer)):
            raise LinkConflict(f"customer_id {customer!r} is itself linked to another id")
        reply = await self._take(
            keys=[alias_key(visitor), events_key(visitor), profile_key(visitor)],
            args=[customer, self.store.ttl_s],
        )
        if text(reply[0]) == "linked":
            owner = text(reply[1])
            if owner != customer:
                raise LinkConflict(f"visitor_id {visitor!r} is linked to another customer")
            return Linked(
                visitor_id=visitor, customer_id=customer, merged_events=0, already_linked=True
            )
        moved = [decode_event(raw) for raw in reply[1::2]]
        pipe = self.client.pipeline(transaction=False)
        pipe.sadd(aliases_key(customer), visitor)
        pipe.expire(aliases_key(customer), self.store.ttl_s)
        await pipe.execute()
        # Replayed as the customer's own: merged in time order, duplicates dropped.
        await self.store.append_many([_as(event, customer) for event in moved])
        return Linked(
            visitor_id=visitor, customer_id=customer, merged_events=len(moved), already_linked=False
        )

    async def set_consent(self, visitor: str, consent: bool) -> None:
        if consent:
            await self.client.delete(consent_key(visitor))
        else:
            await self.client.set(consent_key(visitor), "0")

    async def profile(self, visitor: str) -> Profile:
        person = await self.person_of(visitor)
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(profile_key(person))
        pipe.zrange(events_key(person), 0, -1)
        pipe.smembers(aliases_key(person))
        pipe.get(consent_key(visitor))
        fields, members, linked, consent = await pipe.execute()
        return describe(
            person,
            sorted(text(v) for v in linked),
            consent is None,
            {text(k): text(v) for k, v in fields.items()},
            [decode_event(raw) for raw in members],
            time.time(),
        )

    async def erase(self, visitor: str) -> Erased:
        """Every key and stream entry of the person and all ids linked to it."""
        person = await self.person_of(visitor)
        linked = {text(v) for v in await self.client.smembers(aliases_key(person))}
        ids = sorted({person, visitor, *linked})
        # Before the delete and the scrub: writes still on their way (buffered events, logs)
        # look for these once written.
        pipe, now = self.client.pipeline(transaction=False), time.time()
        for i in ids:
            pipe.set(erased_key(i), now, ex=ERASED_MARK_S)
        await pipe.execute()
        keys = [key for i in ids for key in person_keys(i)]
        removed = int(await self.client.delete(*keys))
        entries = await self._erase_streams(set(ids))
        async for key in self.client.scan_iter(match="w:{exp:*"):
            await self.client.srem(key, *ids)
        return Erased(person_id=person, ids=ids, keys=removed, stream_entries=entries)

    async def _erase_streams(self, ids: set[str]) -> int:
        erased = 0
        for stream in (EVENTS_STREAM, DECISIONS_STREAM):
            doomed = [
                entry_id
                async for entry_id, payload in entries(self.client, stream)
                if _whose(payload).visitor_id in ids
            ]
            if doomed:
                erased += int(await self.client.xdel(stream, *doomed))
        return erased


class _Whose(Struct):
    """The one field erasure needs from a logged event or decision."""

    visitor_id: str


_whose = msgspec.msgpack.Decoder(_Whose).decode


def _as(event: StoredEvent, person: str) -> StoredEvent:
    return msgspec.structs.replace(event, visitor_id=person)
