"""Erasing a person: every key, stream entry and experiment tally of it and its linked ids.

The stream entries are found through each id's index (``logged_key``, written with the
entries) and the tallies through their registry (``TALLIES_KEY``), so an erasure costs what
the person has, not what the streams or the keyspace hold. Entries logged before the index
existed are not in it: ``witryna reindex-logs`` adds them once.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from msgspec import Struct

from service.storage.client import Client
from service.storage.events import text
from service.storage.keys import TALLIES_KEY, erased_key, logged_key, person_keys
from service.storage.streams import STREAM_OF

# How long an erasure's mark outlives it: longer than any log write can wait for Redis.
ERASED_MARK_S = 86_400
# Entry ids per XDEL: one command stays short however much a person logged.
XDEL_CHUNK = 10_000


class Erased(Struct, kw_only=True):
    person_id: str
    ids: list[str]
    keys: int
    stream_entries: int


async def erase(client: Client, person: str, ids: Sequence[str]) -> Erased:
    """Erase ``ids`` (``person`` and the ids linked to it)."""
    # Before the reads and deletes: writes still on their way (buffered events, logs) look
    # for these once written, and take back what landed after the index was read.
    pipe, now = client.pipeline(transaction=False), time.time()
    for i in ids:
        pipe.set(erased_key(i), now, ex=ERASED_MARK_S)
    await pipe.execute()
    reads = client.pipeline(transaction=False)
    for i in ids:
        reads.smembers(logged_key(i))
    reads.smembers(TALLIES_KEY)
    *indexes, tallies = await reads.execute()
    removed = int(await client.delete(*(key for i in ids for key in person_keys(i))))
    entries = await _delete_entries(client, [text(m) for index in indexes for m in index])
    if tallies:
        scrub = client.pipeline(transaction=False)
        for tally in sorted(text(t) for t in tallies):
            scrub.srem(tally, *ids)
        await scrub.execute()
    return Erased(person_id=person, ids=list(ids), keys=removed, stream_entries=entries)


async def _delete_entries(client: Client, members: list[str]) -> int:
    """XDEL the entries the index ``members`` name; returns how many were still there."""
    by_stream: defaultdict[str, list[str]] = defaultdict(list)
    for member in members:
        what, _, entry_id = member.partition("|")
        by_stream[STREAM_OF[what]].append(entry_id)
    if not by_stream:
        return 0
    pipe = client.pipeline(transaction=False)
    for stream, entry_ids in sorted(by_stream.items()):
        for at in range(0, len(entry_ids), XDEL_CHUNK):
            pipe.xdel(stream, *entry_ids[at : at + XDEL_CHUNK])
    deleted: list[Any] = await pipe.execute()
    return sum(int(n) for n in deleted)
