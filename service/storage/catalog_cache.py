"""A worker's memory of the catalogue, kept true by a change log in Redis.

Every page view's carousel checks the stock, category and tags of some sixty items. Read
from Redis each time, that check cost more than the page view's own script; most of those
items are the same from one page view to the next. So a worker keeps what it has read and
forgets an item as soon as the catalogue says it changed:

- an upsert bumps ``w:{catalog}:version`` and appends the changed ids, with that version,
  to the stream ``w:{catalog}:changes`` (one Lua call, atomic);
- every worker reads the stream every ``sync_s`` and drops those ids; the worker that made
  the change drops them at once, so its own next answer already sees it;
- a version that jumps (the stream was trimmed past us) or goes back (Redis was flushed or
  replaced) clears everything, and so does ``refresh_s``, for writes made behind the API.

An item is therefore at most ``sync_s`` stale on other workers while Redis answers.

Each sync also counts the catalogue (``HLEN`` of the hashes named in ``counted``, in the same
round trip), so that a page view can tell an empty catalogue, after a Redis restart without
persistence or in a new shop, without asking Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

import msgspec

from service.storage import scripts
from service.storage.client import UNREACHABLE, Client
from service.storage.keys import CHANGES_KEY, VERSION_KEY

log = logging.getLogger(__name__)

# Enough entries for a worker that missed a few seconds of bulk loading to catch up.
CHANGES_MAXLEN = 10_000
READ_CHUNK = 1000


T = TypeVar("T")
_encode_ids = msgspec.msgpack.Encoder().encode
_decode_ids = msgspec.msgpack.Decoder(list[str]).decode


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


class CatalogCache(Generic[T]):
    """Looked-up items by id (``None``: not in the catalogue), forgotten when they change."""

    def __init__(
        self, client: Client, max_items: int, refresh_s: float, counted: Sequence[str] = ()
    ) -> None:
        self.client = client
        self.max_items = max_items
        self.refresh_s = refresh_s
        self.counted = list(counted)
        self.items: dict[str, T | None] = {}
        # Items in the catalogue as of the last count (the largest of the ``counted`` hashes);
        # None until counted.
        self.size: int | None = None
        # Bumped whenever anything is forgotten: a read begun before must not be kept.
        self.generation = 0
        self._version: int | None = None
        self._last_id = "0-0"
        self._notify = client.register_script(scripts.NOTIFY)

    @property
    def ready(self) -> bool:
        """False until the first sync: until then every lookup goes to Redis."""
        return self._version is not None

    def keep(self, found: dict[str, T | None], generation: int) -> None:
        """Remember a read, unless something was forgotten while it was in flight."""
        if generation != self.generation or not self.ready:
            return
        if len(self.items) + len(found) > self.max_items:
            self.items.clear()
        self.items.update(found)

    def forget(self, item_ids: Iterable[str]) -> None:
        self.generation += 1
        for item_id in item_ids:
            self.items.pop(item_id, None)

    def clear(self) -> None:
        self.generation += 1
        self.items.clear()

    async def announce(self, item_ids: list[str]) -> None:
        """Tell every worker that these items changed, this one first."""
        self.forget(item_ids)
        await self._notify(
            keys=[VERSION_KEY, CHANGES_KEY], args=[CHANGES_MAXLEN, _encode_ids(item_ids)]
        )

    def counted_at(self, size: int, generation: int) -> None:
        """Remember a count, unless an upsert came in while it was in flight."""
        if generation == self.generation:
            self.size = size

    async def sync(self) -> None:
        """Read the change log since the last sync and forget what it names; count the items."""
        began = self.generation
        pipe = self.client.pipeline(transaction=False)
        pipe.get(VERSION_KEY)
        if self._version is None:
            pipe.xrevrange(CHANGES_KEY, count=1)
        else:
            pipe.xread({CHANGES_KEY: self._last_id}, count=READ_CHUNK)
        for key in self.counted:
            pipe.hlen(key)
        version_raw, read, *sizes = await pipe.execute()
        if self.counted:
            self.counted_at(max(sizes), began)
        version = _int(version_raw)
        if self._version is None:
            self._start(version, read)
        elif version < self._version:
            self._reset(f"catalogue version went back ({version} < {self._version})")
        elif version > self._version:
            if not read:
                self._reset("catalogue change log is gone")
            else:
                self._apply(read[0][1])

    def _start(self, version: int, newest: Any) -> None:
        self.clear()
        self._version = version
        self._last_id = newest[0][0].decode() if newest else "0-0"

    def _reset(self, why: str) -> None:
        """Forget everything; the next sync starts again from the newest change."""
        log.info("%s: catalogue cache cleared", why)
        self.clear()
        self._version = None

    def _apply(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        assert self._version is not None
        for entry_id, fields in entries:
            version = _int(fields.get(b"v"))
            if version != self._version + 1:
                log.info("catalogue changes skipped a version: catalogue cache cleared")
                self.clear()
            else:
                self.forget(_decode_ids(fields.get(b"ids", b"\x90")))
            self._version, self._last_id = version, entry_id.decode()

    async def sync_forever(self, sync_s: float) -> None:
        since_refresh = 0.0
        while True:
            await asyncio.sleep(sync_s)
            since_refresh += sync_s
            if since_refresh >= self.refresh_s:
                since_refresh = 0.0
                self.clear()
            # Unreachable: nothing can change the catalogue through us, and the log waits.
            with contextlib.suppress(*UNREACHABLE, msgspec.DecodeError):
                await self.sync()
