"""The one schema: HTTP bodies, Redis payloads and answers are these msgspec Structs.

HTTP bodies forbid unknown fields so that a typo is a 4xx, not silently ignored data.
Payloads read back from Redis use lenient twins, so that a field added by a newer
release never breaks an older reader during a rolling deploy.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

EventType = Literal[
    "home_view",
    "category_view",
    "product_view",
    "search",
    "cart_view",
    "checkout",
    "help",
    "other_view",
    "add_to_cart",
    "remove_from_cart",
    "purchase",
    "click",
]
Channel = Literal["web", "app", "store", "pos", "call_centre", "email"]
PageType = Literal["home", "category", "product", "search", "cart", "checkout", "help", "other"]
Device = Literal["desktop", "mobile", "tablet"]

# Python's `$` also matches before a final newline ("v-1\n" passed `^[a-z0-9-]+$`); followed
# by `(?!\n)` it is the end of the string, in Python and in the OpenAPI's ECMA regexes alike.
END = r"$(?!\n)"
# Control characters (C0, DEL, C1) are refused in free text: a "\x1b[2J" or a "\n" stored
# here would reach logs, dashboards and exported files as it came.
NO_CONTROL = r"\x00-\x1f\x7f-\x9f"
TEXT = rf"^[^{NO_CONTROL}]*{END}"

# The visitor id lands inside a Redis hash tag, so braces are excluded.
VisitorId = Annotated[str, Meta(min_length=1, max_length=128, pattern=rf"^[A-Za-z0-9._:@\-]+{END}")]
SessionId = Annotated[str, Meta(min_length=1, max_length=128, pattern=TEXT)]
ItemId = Annotated[str, Meta(min_length=1, max_length=64, pattern=TEXT)]
Category = Annotated[str, Meta(min_length=1, max_length=128, pattern=TEXT)]
Brand = Annotated[str, Meta(min_length=1, max_length=128, pattern=TEXT)]
Query = Annotated[str, Meta(max_length=256, pattern=TEXT)]
SlotName = Annotated[str, Meta(min_length=1, max_length=32, pattern=rf"^[a-z0-9_\-]+{END}")]
Price = Annotated[float, Meta(ge=0, le=1e9)]
# Seconds since the epoch, up to 2100-01-01.
Timestamp = Annotated[float, Meta(ge=0, le=4102444800)]

PAGE_EVENT: dict[str, EventType] = {
    "home": "home_view",
    "category": "category_view",
    "product": "product_view",
    "search": "search",
    "cart": "cart_view",
    "checkout": "checkout",
    "help": "help",
    "other": "other_view",
}


class StoredEvent(Struct, omit_defaults=True, kw_only=True):
    """An event as kept in Redis: lenient, so that a field added by a newer release never
    breaks an older reader, and without the checks of ``Event``, which every event passed
    once on its way in (a page view reads 50 back: the length and pattern checks tripled
    their decoding time)."""

    visitor_id: str
    type: EventType
    session_id: str | None = None
    item_id: str | None = None
    category: str | None = None
    brand: str | None = None
    price: float | None = None
    query: str | None = None
    channel: Channel = "web"
    ts: float | None = None


class Event(StoredEvent, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """One thing a visitor did, on any channel."""

    visitor_id: VisitorId
    type: EventType
    session_id: SessionId | None = None
    item_id: ItemId | None = None
    category: Category | None = None
    brand: Brand | None = None
    price: Price | None = None
    query: Query | None = None
    channel: Channel = "web"
    ts: Timestamp | None = None


class CheckedEvent(Event, forbid_unknown_fields=False, omit_defaults=True, kw_only=True):
    """An event from a file or log: checked like ``Event``, lenient like ``StoredEvent``."""


class Page(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    type: PageType
    item_id: ItemId | None = None
    category: Category | None = None
    query: Query | None = None


class PageView(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    visitor_id: VisitorId
    page: Page
    session_id: SessionId | None = None
    slots: Annotated[list[SlotName], Meta(max_length=16)] | None = None
    channel: Channel = "web"
    device: Device | None = None
    ts: Timestamp | None = None

    def to_event(self, now: float) -> StoredEvent:
        return StoredEvent(
            visitor_id=self.visitor_id,
            type=PAGE_EVENT[self.page.type],
            session_id=self.session_id,
            item_id=self.page.item_id,
            category=self.page.category,
            query=self.page.query,
            channel=self.channel,
            ts=self.ts if self.ts is not None else now,
        )


class EventBatch(Struct, forbid_unknown_fields=True, kw_only=True):
    events: Annotated[list[Event], Meta(min_length=1, max_length=1000)]


class ScoredItem(Struct, kw_only=True):
    item_id: str
    score: float


class SlotDecision(Struct, kw_only=True):
    variant: str
    items: list[ScoredItem]
    reasons: list[str]


class Intent(Struct, kw_only=True):
    label: str
    probabilities: dict[str, float]


class Decision(Struct, kw_only=True):
    decision_id: str
    visitor_id: str
    model_version: str
    intent: Intent
    slots: dict[str, SlotDecision]
    degraded: bool
    experiments: dict[str, str] = msgspec.field(default_factory=dict)


class Accepted(Struct, kw_only=True):
    accepted: int
    buffered: int = 0


def stored(event: Event, now: float) -> StoredEvent:
    """The event as it is kept: lenient on read, timestamped on arrival when it came without."""
    fields = msgspec.structs.asdict(event)
    if fields["ts"] is None:
        fields["ts"] = now
    return StoredEvent(**fields)
