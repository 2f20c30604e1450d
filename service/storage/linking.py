"""Linking an anonymous id to a customer: the link, the move of its events into the customer's
history and the deletion of its own, all or nothing.

On one Redis that is one script (``scripts.LINK``): a timeout or a failure leaves either all of
it done or none, and asking again finishes it. On a Redis Cluster the id's keys and the
customer's are in different slots, which no script can span: there the link and the move of
the events to the id's moving key are one script (``scripts.TAKE``), and writing them to the
customer a second step. A failure between the two leaves them in the moving key, which asking
again writes to the customer, once.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
from msgspec import Struct
from redis.asyncio.cluster import RedisCluster

from service.errors import LinkBusy
from service.schema import StoredEvent
from service.storage import scripts
from service.storage.events import EventStore, decode_event, text
from service.storage.events import _args as record_args  # the one layout RECORD reads
from service.storage.keys import (
    alias_key,
    aliases_key,
    consent_key,
    erased_key,
    events_key,
    moving_key,
    profile_key,
)

# Tries before a link gives up: each loses only to an event of the same id written in the
# round trip since the last (a stale try answers with the id's events as they are now).
LINK_TRIES = 10


class Link(Struct, kw_only=True):
    """What a link found: "moved" (``merged`` events), "linked" already (to ``person``, with
    events a cut-short move left ``moving``), or a refused chain ("person" or "chain")."""

    kind: str
    person: str | None = None
    merged: int = 0
    moving: list[StoredEvent] = []


class Linker:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.client = store.client
        self._take = self.client.register_script(scripts.TAKE)
        self._link = self.client.register_script(scripts.LINK)

    async def link(self, visitor: str, customer: str) -> Link:
        if isinstance(self.client, RedisCluster):
            found = await self._in_two_steps(visitor, customer)
        else:
            found = await self._in_one_script(visitor, customer)
        # On a cluster every move is finished in a second step; on either, a move cut short
        # is finished by whoever asks again for the same link.
        two_step = found.kind == "moved" and isinstance(self.client, RedisCluster)
        if two_step or (found.kind == "linked" and found.person == customer):
            await self._finish_move(visitor, customer, found.moving)
        return found

    async def _in_one_script(self, visitor: str, customer: str) -> Link:
        keys = [alias_key(visitor), events_key(visitor), profile_key(visitor)]
        keys += [moving_key(visitor), aliases_key(visitor), alias_key(customer)]
        keys += [consent_key(customer), events_key(customer), profile_key(customer)]
        keys += [aliases_key(customer), erased_key(customer)]
        members = cast(list[bytes], await self.client.zrange(events_key(visitor), 0, -1))
        for _ in range(LINK_TRIES):
            store = self.store
            args: list[Any] = [visitor, customer, store.ttl_s, store.history_len, len(members)]
            args += [*members, *_as_fields(members, customer)]
            reply: list[Any] = await self._link(keys=keys, args=args)
            if text(reply[0]) != "stale":
                return _found(reply, merged=len(members))
            members = reply[1:]
        raise LinkBusy(f"the events of {visitor!r} kept changing while it was linked: try again")

    async def _in_two_steps(self, visitor: str, customer: str) -> Link:
        if await self.client.exists(alias_key(customer)):
            return Link(kind="chain")
        keys = [alias_key(visitor), events_key(visitor), profile_key(visitor)]
        keys += [moving_key(visitor), aliases_key(visitor)]
        reply: list[Any] = await self._take(keys=keys, args=[customer, self.store.ttl_s])
        if text(reply[0]) != "moved":
            return _found(reply, merged=0)
        moving = [decode_event(raw) for raw in reply[1:]]
        return Link(kind="moved", merged=len(moving), moving=moving)

    async def _finish_move(self, visitor: str, customer: str, moving: list[StoredEvent]) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.sadd(aliases_key(customer), visitor)
        pipe.expire(aliases_key(customer), self.store.ttl_s)
        await pipe.execute()
        if moving:
            # Replayed as the customer's own: merged in time order, duplicates dropped. Not
            # buffered: until they are in Redis they stay in the moving key.
            await self.store.write_checked([_as(event, customer) for event in moving])
            await self.client.delete(moving_key(visitor))


def _found(reply: list[Any], merged: int) -> Link:
    kind = text(reply[0])
    if kind != "linked":
        return Link(kind=kind, merged=merged if kind == "moved" else 0)
    moving = [decode_event(raw) for raw in reply[2:]]
    return Link(kind=kind, person=text(reply[1]), moving=moving)


def _as(event: StoredEvent, person: str) -> StoredEvent:
    return msgspec.structs.replace(event, visitor_id=person)


def _as_fields(members: list[bytes], customer: str) -> list[Any]:
    """Each event as the customer's, in the arguments RECORD takes for one event."""
    fields: list[Any] = []
    for raw in members:
        event = _as(decode_event(raw), customer)
        fields += record_args(event, 0, 0, read=False)[: scripts.EVENT_FIELDS]
    return fields
