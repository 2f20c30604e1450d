"""The whole catalogue, read a page at a time: work for a background task, never a page view.

HSCAN walks the category hash in pages, so Redis serves other clients between them and a
catalogue of a million items never answers one command of a million entries. Each page's
stock is read with one HMGET of the ids the caller still wants, so a scan that keeps few
items reads the stock of few.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from service.storage.client import Client
from service.storage.keys import field_key

# Entries per HSCAN page. The loop is held for one page's decoding and sorting at a time:
# some 2 ms for 500 (a million items, 2,000 pages, ~7 s of a worker's time on a loaded
# 2-core machine, the loop never held for much longer than a page).
SCAN_PAGE = 500

Stocked = tuple[str, str, bool]


async def scan_stock(
    client: Client, wanted: Callable[[str], bool], page: int = SCAN_PAGE
) -> AsyncIterator[list[Stocked]]:
    """``(item_id, category, in_stock)`` of every item that has a category and that
    ``wanted`` keeps, a page at a time. An item whose stock was never set counts as in
    stock, as a carousel's lookup counts it. An item may come twice if the hash is
    rehashed during the scan (HSCAN's guarantee is every item at least once)."""
    categories, stock = field_key("category"), field_key("in_stock")
    cursor = 0
    while True:
        # redis-py types the reply as any of its shapes; HSCAN's is (cursor, {field: value}).
        reply: Any = await client.hscan(categories, cursor, count=page)
        cursor, found = reply
        kept = _decoded(found, wanted)
        if kept:
            flags = await client.hmget(stock, [item_id for item_id, _ in kept])
            yield [(i, c, flag != b"0") for (i, c), flag in zip(kept, flags, strict=True)]
        if cursor == 0:
            return


def _decoded(found: dict[bytes, bytes], wanted: Callable[[str], bool]) -> list[tuple[str, str]]:
    """The wanted ids and their categories as text; one written behind the API that is not
    UTF-8 could not be looked up by a carousel either, and is left out."""
    pairs = []
    for key, value in found.items():
        try:
            item_id = key.decode()
            if wanted(item_id):
                pairs.append((item_id, value.decode()))
        except UnicodeDecodeError:
            continue
    return pairs
