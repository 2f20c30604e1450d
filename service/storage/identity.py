"""One person across ids and channels: linking, the live profile, consent and erasure."""

from __future__ import annotations

import time
from collections import Counter
from typing import Annotated

from msgspec import Meta, Struct

from service.errors import WitrynaError
from service.schema import StoredEvent, VisitorId
from service.storage import erasure
from service.storage.client import Client
from service.storage.erasure import Erased as Erased
from service.storage.events import EventStore, decode_event, text
from service.storage.keys import alias_key, aliases_key, consent_key, events_key, profile_key
from service.storage.linking import Linker

DAY_S = 86_400.0
PRICE_BANDS = ((25.0, "budget"), (100.0, "mid"), (float("inf"), "premium"))


class Identify(Struct, forbid_unknown_fields=True, kw_only=True):
    visitor_id: VisitorId
    customer_id: VisitorId
    # From a browser: the shop backend's signature of the link and when it stops being good
    # (service/http/auth.py, docs/security.md). A secret-key caller needs neither.
    token: Annotated[str, Meta(pattern="^[0-9a-f]{64}$")] | None = None
    expires: Annotated[int, Meta(ge=0)] | None = None


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


class UnknownVisitor(WitrynaError):
    status_code = 404
    title = "Unknown visitor"


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
        self._linker = Linker(store)

    async def person_of(self, visitor: str) -> str:
        person = await self.client.get(alias_key(visitor))
        return visitor if person is None else text(person)

    async def identify(self, request: Identify) -> Linked:
        """Link an anonymous id to a customer, once; its events move to the customer.

        All or nothing on one Redis; in two steps on a cluster, where a Redis failure between
        them is a 503 and asking again finishes the move, with nothing lost or written twice
        (service/storage/linking.py).
        """
        visitor, customer = request.visitor_id, request.customer_id
        if visitor == customer:
            return Linked(
                visitor_id=visitor, customer_id=customer, merged_events=0, already_linked=True
            )
        found = await self._linker.link(visitor, customer)
        if found.kind == "chain":
            raise LinkConflict(
                f"customer_id {customer!r} is itself linked to another id: link to that one"
            )
        if found.kind == "person":
            raise LinkConflict(
                f"visitor_id {visitor!r} has other ids linked to it, so it cannot be linked "
                f"to {customer!r}: link those ids to {customer!r} instead"
            )
        if found.kind == "linked" and found.person != customer:
            raise LinkConflict(f"visitor_id {visitor!r} is linked to another customer")
        return Linked(
            visitor_id=visitor,
            customer_id=customer,
            # A finished move counts once: a link asked again (or at once from another
            # device) may help finish the same move, but does not count it again.
            merged_events=found.merged,
            already_linked=found.kind == "linked",
        )

    async def is_known(self, visitor: str) -> bool:
        """Whether ``visitor`` is linked to a person or is a person with linked ids."""
        return bool(await self.client.exists(alias_key(visitor), aliases_key(visitor)))

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
        if not (fields or members or linked or consent is not None):
            raise UnknownVisitor(f"nothing is kept about {visitor!r}")
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
        return await erasure.erase(self.client, person, sorted({person, visitor, *linked}))
