"""The catalogue and its stock, in Redis: one hash per item, so partial updates are atomic."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated

import msgspec
import redis.asyncio as aioredis
from msgspec import Meta, Struct

from service.schema import Category, ItemId, Price

_FIELDS = ("category", "price", "margin", "in_stock", "tags")
Tag = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[^,]+$")]


class ItemUpdate(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """A catalogue upsert: fields left out keep their stored value."""

    item_id: ItemId
    category: Category | None = None
    price: Price | None = None
    margin: Price | None = None
    in_stock: bool | None = None
    tags: Annotated[list[Tag], Meta(max_length=32)] | None = None


class ItemBatch(Struct, forbid_unknown_fields=True, kw_only=True):
    items: Annotated[list[ItemUpdate], Meta(min_length=1, max_length=10_000)]


class CatalogItem(Struct, frozen=True, kw_only=True):
    item_id: str
    category: str | None = None
    price: float | None = None
    margin: float | None = None
    in_stock: bool = True
    tags: frozenset[str] = frozenset()


def item_key(item_id: str) -> str:
    return f"w:item:{{{item_id}}}"


def _mapping(update: ItemUpdate) -> dict[str, str]:
    fields = {}
    for name in _FIELDS:
        value = getattr(update, name)
        if value is None:
            continue
        if name == "in_stock":
            fields[name] = "1" if value else "0"
        elif name == "tags":
            fields[name] = ",".join(value)
        else:
            fields[name] = str(value)
    return fields


def _item(item_id: str, values: Sequence[bytes | None]) -> CatalogItem | None:
    if all(v is None for v in values):
        return None
    category, price, margin, in_stock, tags = (v.decode() if v else None for v in values)
    return CatalogItem(
        item_id=item_id,
        category=category,
        price=float(price) if price else None,
        margin=float(margin) if margin else None,
        in_stock=in_stock != "0",
        tags=frozenset(tags.split(",")) if tags else frozenset(),
    )


class Catalog:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def upsert(self, updates: Iterable[ItemUpdate]) -> int:
        pipe = self.client.pipeline(transaction=False)
        count = 0
        for update in updates:
            fields = _mapping(update)
            if fields:
                pipe.hset(item_key(update.item_id), mapping=fields)  # type: ignore[arg-type]
            count += 1
        await pipe.execute()
        return count

    async def lookup(self, item_ids: Sequence[str]) -> dict[str, CatalogItem]:
        """Known items among ``item_ids``; an item never loaded is absent from the result."""
        pipe = self.client.pipeline(transaction=False)
        for item_id in item_ids:
            pipe.hmget(item_key(item_id), list(_FIELDS))
        rows = await pipe.execute()
        found = {}
        for item_id, values in zip(item_ids, rows, strict=True):
            item = _item(item_id, values)
            if item is not None:
                found[item_id] = item
        return found


batch_decoder = msgspec.json.Decoder(ItemBatch)
