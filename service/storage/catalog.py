"""The catalogue and its stock, in Redis: one hash per item, so partial updates are atomic."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Annotated

import msgspec
from msgspec import Meta, Struct
from redis.exceptions import TimeoutError as Unanswered

from service.schema import END, NO_CONTROL, Category, ItemId, Price
from service.storage.breaker import Breaker
from service.storage.catalog_cache import CatalogCache
from service.storage.client import UNREACHABLE, Client, Pipe
from service.storage.keys import field_key

_FIELDS = ("category", "price", "margin", "in_stock", "tags")
_LOOKUP = ("category", "in_stock", "tags")
# An item is in the catalogue when one of these hashes has it: the largest counts the items.
COUNTED = tuple(field_key(name) for name in _LOOKUP)
# Tags are stored comma-joined, so a tag holds no comma.
Tag = Annotated[str, Meta(min_length=1, max_length=64, pattern=rf"^[^,{NO_CONTROL}]+{END}")]


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
    """What a carousel needs to know of an item."""

    item_id: str
    category: str | None = None
    in_stock: bool = True
    tags: frozenset[str] = frozenset()


def _encoded(update: ItemUpdate) -> dict[str, str]:
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


def _text(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


class Catalog:
    """Items in Redis, read through this worker's cache once the cache has synced."""

    def __init__(
        self,
        client: Client,
        cache: CatalogCache[CatalogItem] | None = None,
        breaker: Breaker | None = None,
        deadline_s: float | None = None,
    ) -> None:
        self.client = client
        self.cache = cache if cache is not None else CatalogCache(client, 1, 1.0, COUNTED)
        # A page view's reads of items the cache lacks: not while the worker's breaker is
        # open, and not past the page view's deadline, so that a stalled Redis cannot hold a
        # carousel any more than a history.
        self.breaker = breaker
        self.deadline_s = deadline_s

    @property
    def empty(self) -> bool:
        """Nothing in the catalogue, as of the last count: no item's stock is known."""
        return self.cache.size == 0

    @property
    def state(self) -> str:
        """``loaded``, ``empty``, or ``unknown`` until Redis has answered a count."""
        size = self.cache.size
        return "unknown" if size is None else "loaded" if size else "empty"

    async def upsert(self, updates: Iterable[ItemUpdate]) -> int:
        """Fields left out keep their value: each field is its own hash entry."""
        by_field: dict[str, dict[str, str]] = {name: {} for name in _FIELDS}
        changed = []
        for update in updates:
            for name, value in _encoded(update).items():
                by_field[name][update.item_id] = value
            changed.append(update.item_id)
        pipe = self.client.pipeline(transaction=False)
        for name, mapping in by_field.items():
            if mapping:
                pipe.hset(field_key(name), mapping=mapping)  # type: ignore[arg-type]
        self._count(pipe)
        written = await pipe.execute()
        await self.cache.announce(changed)
        # Set after announcing, which voids any count in flight: this worker's next carousel
        # knows at once that the catalogue is no longer empty.
        self.cache.size = max(written[-len(COUNTED) :])
        return len(changed)

    @staticmethod
    def _count(pipe: Pipe) -> None:
        for key in COUNTED:
            pipe.hlen(key)

    async def lookup(self, item_ids: Sequence[str]) -> dict[str, CatalogItem]:
        """Known items among ``item_ids``; an item never loaded is absent from the result."""
        cache = self.cache
        if not cache.ready:
            return _known(await self._bounded(list(dict.fromkeys(item_ids)), counted=True))
        if cache.size == 0:
            return {}
        found: dict[str, CatalogItem | None] = {}
        missing = []
        for item_id in dict.fromkeys(item_ids):
            if item_id in cache.items:
                found[item_id] = cache.items[item_id]
            else:
                missing.append(item_id)
        if missing:
            generation = cache.generation
            read = await self._bounded(missing)
            cache.keep(read, generation)
            found.update(read)
        return _known(found)

    async def _bounded(
        self, item_ids: Sequence[str], counted: bool = False
    ) -> dict[str, CatalogItem | None]:
        """``_read`` within the breaker and the deadline; either failing raises as Redis
        failing does, and the carousel answers that stock is unknown."""
        breaker = self.breaker
        if breaker is None:
            return await self._read(item_ids, counted)
        if breaker.open:
            raise Unanswered("redis is failing: the breaker is open")
        try:
            async with asyncio.timeout(self.deadline_s):
                read = await self._read(item_ids, counted)
        except (*UNREACHABLE, TimeoutError) as exc:
            breaker.failed(str(exc) or "a catalogue read past the deadline")
            raise Unanswered(f"catalogue not read: {exc!r}") from exc
        breaker.succeeded()
        return read

    async def _read(
        self, item_ids: Sequence[str], counted: bool = False
    ) -> dict[str, CatalogItem | None]:
        """``counted``: count the catalogue in the same round trip, as no sync counts it."""
        if not item_ids:
            return {}
        generation = self.cache.generation
        pipe = self.client.pipeline(transaction=False)
        for name in _LOOKUP:
            pipe.hmget(field_key(name), list(item_ids))
        if counted:
            self._count(pipe)
        columns = await pipe.execute()
        if counted:
            self.cache.counted_at(max(columns[len(_LOOKUP) :]), generation)
            columns = columns[: len(_LOOKUP)]
        found: dict[str, CatalogItem | None] = {}
        for row, item_id in enumerate(item_ids):
            category, in_stock, tags = (_text(col[row]) for col in columns)
            found[item_id] = (
                None
                if category is in_stock is tags is None
                else CatalogItem(
                    item_id=item_id,
                    category=category,
                    in_stock=in_stock != "0",
                    tags=frozenset(tags.split(",")) if tags else frozenset(),
                )
            )
        return found


def _known(read: dict[str, CatalogItem | None]) -> dict[str, CatalogItem]:
    return {i: item for i, item in read.items() if item is not None}


batch_decoder = msgspec.json.Decoder(ItemBatch)
