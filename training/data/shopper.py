"""One simulated session as it is played: the shopper's clock, cart and page views, and the
script each archetype follows (see simulator.py for the archetypes and their incentive response).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from service.schema import Channel, EventType, StoredEvent
from training.data.catalogue import Catalogue

# Stray page views any shopper makes now and then.
_NOISE: tuple[EventType, ...] = ("other_view", "click", "home_view")


@dataclass
class Shopper:
    """One session under construction: its clock, channel and cart."""

    rng: np.random.Generator
    catalogue: Catalogue
    visitor_id: str
    session_id: str
    channel: Channel
    ts: float
    median_gap: float
    # Whether this shopper buys at the decision point, drawn up front from p0 or p1.
    outcome: bool = False
    offer_at: int = 0
    events: list[StoredEvent] = field(default_factory=list)
    cart: list[str] = field(default_factory=list)

    def emit(self, type_: EventType, item: str | None = None, **extra: str) -> None:
        if self.events:
            self.ts += float(self.rng.lognormal(np.log(self.median_gap), 0.8)) + 1.0
        category = self.catalogue.category_of[item] if item else extra.get("category")
        self.events.append(
            StoredEvent(
                visitor_id=self.visitor_id,
                session_id=self.session_id,
                type=type_,
                item_id=item,
                category=category,
                price=self.catalogue.price_of[item] if item else None,
                query=extra.get("query"),
                channel=self.channel,
                ts=round(self.ts, 3),
            )
        )
        if self.rng.random() < 0.04:
            self.emit(_NOISE[int(self.rng.integers(len(_NOISE)))])

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def decide(self) -> bool:
        """The decision point, where the holdout shows (or withholds) the incentive."""
        self.offer_at = len(self.events)
        return self.outcome

    def count(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))

    def enter(self) -> str:
        """An entry page; returns the category the shopper has in mind."""
        category = self.catalogue.pick_category(self.rng)
        entry = self.rng.choice(["home", "category", "search", "product"], p=[0.3, 0.3, 0.2, 0.2])
        if entry == "home":
            self.emit("home_view")
        elif entry == "category":
            self.emit("category_view", category=category)
        elif entry == "search":
            self.emit("search", category=category, query=category)
        return category

    def walk(self, category: str, steps: int) -> str:
        """Product views among neighbouring items of one category; returns the last item."""
        item = self.catalogue.pick_item(self.rng, category)
        self.emit("product_view", item)
        for _ in range(steps - 1):
            item = self.catalogue.neighbour(self.rng, item)
            self.emit("product_view", item)
        return item

    def add(self, item: str) -> None:
        self.cart.append(item)
        self.emit("add_to_cart", item)

    def remove(self) -> None:
        if self.cart:
            self.emit("remove_from_cart", self.cart.pop(int(self.rng.integers(len(self.cart)))))

    def buy(self) -> None:
        self.emit("cart_view")
        self.emit("checkout")
        if self.cart:
            self.emit("purchase", self.cart[-1])


def _buyer(s: Shopper) -> None:
    category = s.enter()
    s.add(s.walk(category, s.count(2, 7)))
    if s.chance(0.3):
        s.add(s.walk(category, s.count(1, 3)))
    if not s.decide():
        s.emit("cart_view")
        return
    s.buy()


def _hesitant(s: Shopper) -> None:
    category = s.enter()
    s.add(s.walk(category, s.count(2, 8)))
    if s.chance(0.4):
        s.remove()
        if s.chance(0.5):
            s.add(s.walk(s.catalogue.pick_category(s.rng), s.count(1, 4)))
    if s.chance(0.7):
        s.emit("cart_view")
    if s.chance(0.3):
        s.walk(category, s.count(1, 3))
    if s.decide():
        s.add(s.cart[-1] if s.cart else s.walk(category, 1))
        s.buy()
    elif s.chance(0.25):
        s.emit("checkout")


def _browser(s: Shopper) -> None:
    for _ in range(s.count(2, 5)):
        category = s.catalogue.pick_category(s.rng)
        if s.chance(0.5):
            s.emit("search", category=category, query=category)
        else:
            s.emit("category_view", category=category)
        s.walk(category, s.count(1, 5))
    if s.chance(0.08):
        s.add(s.walk(category, 1))
        s.remove()
    if s.decide():
        s.add(s.walk(category, 1))
        s.buy()


def _help_seeker(s: Shopper) -> None:
    category = s.enter()
    s.add(s.walk(category, s.count(1, 4)))
    for _ in range(s.count(2, 4)):
        s.emit("help")
        if s.chance(0.4):
            s.remove()
            s.add(s.walk(category, 1))
    s.emit("cart_view")
    if s.decide():
        s.buy()


def _leaver(s: Shopper) -> None:
    category = s.enter()
    for _ in range(s.count(1, 3) - len(s.events)):
        s.walk(category, 1)
    if s.decide():
        s.add(s.walk(category, 1))
        s.buy()


PLAYS: dict[str, Callable[[Shopper], None]] = {
    "buyer": _buyer,
    "hesitant": _hesitant,
    "browser": _browser,
    "help_seeker": _help_seeker,
    "leaver": _leaver,
}
