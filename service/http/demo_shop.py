"""The demo store's backend: what a shop's own server does at checkout, played by the service.

A real shop's backend sends its orders with a secret key, so that they count as experiment
conversions; a browser's purchases never do. The demo has no backend of its own, so this
route stands in for one and holds the trust a secret key would. It exists only with
WITRYNA_DEMO, which the image and the chart leave off.

/demo/visitors lets a tester see and choose the experiment arm. Assignment stays the sticky
hash of (experiment, visitor): choosing an arm gives a new random visitor id that the hash
puts there, so no visitor's arm is ever rewritten and nothing is stored. Telling the arms of
an id tells what any page view for that id would tell.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Request, post
from litestar.handlers import HTTPRouteHandler
from msgspec import Meta, Struct

from service.decision.experiments import arms_to_choose, assign, new_visitor_in
from service.decision.policy import Name, Policy
from service.errors import InvalidBody
from service.http import bodies
from service.http.parts import Parts
from service.http.storefront import STATIC
from service.schema import Accepted, Category, ItemId, Price, StoredEvent, VisitorId
from service.storage.catalog import ItemUpdate
from service.storage.client import UNREACHABLE

log = logging.getLogger(__name__)


class Order(Struct, forbid_unknown_fields=True, kw_only=True):
    visitor_id: VisitorId
    items: Annotated[list[ItemId], Meta(min_length=1, max_length=50)]


_order = msgspec.json.Decoder(Order)


class Assignment(Struct, forbid_unknown_fields=True, kw_only=True):
    """``visitor_id`` to tell that visitor's arms, or ``arm`` (of ``experiment``, the policy's
    first by default) for a new visitor in that arm."""

    visitor_id: VisitorId | None = None
    experiment: Name | None = None
    arm: Name | None = None


class Assigned(Struct, kw_only=True):
    visitor_id: str
    arms: dict[str, str]
    choices: dict[str, list[str]]


_assignment = msgspec.json.Decoder(Assignment)


def assigned(policy: Policy, asked: Assignment) -> Assigned:
    choices = arms_to_choose(policy)
    visitor = asked.visitor_id
    if asked.arm is not None:
        experiment = asked.experiment or next(iter(choices), "")
        if asked.arm not in choices.get(experiment, []):
            known = ", ".join(f"{e}: {' '.join(arms)}" for e, arms in choices.items()) or "none"
            raise InvalidBody("arm", f"{asked.arm!r} is not an arm of {experiment!r} ({known})")
        visitor = new_visitor_in(policy, experiment, asked.arm)
        if visitor is None:
            raise InvalidBody("arm", f"no visitor lands in {asked.arm!r}: is its share 0?")
    if visitor is None:
        raise InvalidBody("visitor_id", "send a visitor_id to read, or an arm to choose")
    return Assigned(visitor_id=visitor, arms=assign(policy, visitor), choices=choices)


class DemoItem(Struct, kw_only=True):
    """What the catalogue takes of a product of the demo store's page (catalog.js)."""

    item_id: ItemId
    category: Category
    price: Price


class DemoCatalog(Struct):
    items: list[DemoItem]


def on_startup(parts: Parts) -> list[Callable[[], Awaitable[None]]]:
    async def stock_demo() -> None:
        await stock(parts)

    return [stock_demo] if parts.settings.demo else []


async def stock(parts: Parts) -> None:
    """The demo store's products, in stock, into an empty catalogue: the demo's private Redis
    keeps nothing across restarts, and a carousel shows only items the catalogue holds. A
    catalogue with anything in it is the shop's own, and is left alone."""
    if parts.catalog.state != "empty":
        return
    script = (STATIC / "demo" / "catalog.js").read_text()
    demo = msgspec.json.decode(script.partition("=")[2].strip().rstrip(";"), type=DemoCatalog)
    items = [
        ItemUpdate(item_id=i.item_id, category=i.category, price=i.price, in_stock=True)
        for i in demo.items
    ]
    with contextlib.suppress(*UNREACHABLE):
        log.info(
            "demo store: %d products loaded into the empty catalogue",
            await parts.catalog.upsert(items),
        )


def routes(parts: Parts) -> list[HTTPRouteHandler]:
    if not parts.settings.demo:
        return []

    @post("/demo/orders", status_code=202, include_in_schema=False)
    async def order(request: Request[Any, Any, Any]) -> Accepted:
        """The demo checkout's order, recorded as the shop's backend would record it."""
        placed = bodies.decode(_order, await bodies.read(request))
        now = time.time()
        events = [
            StoredEvent(visitor_id=placed.visitor_id, type="purchase", item_id=item, ts=now)
            for item in placed.items
        ]
        written = await parts.store.append_many(events)
        parts.logs.record(written.kept, None, converts=True)
        return Accepted(accepted=len(events), buffered=written.buffered)

    @post("/demo/visitors", status_code=200, include_in_schema=False)
    async def visitors(request: Request[Any, Any, Any]) -> Assigned:
        """The demo visitor's experiment arms, or a new demo visitor in the arm asked for."""
        return assigned(parts.policy, bodies.decode(_assignment, await bodies.read(request)))

    return [order, visitors]
