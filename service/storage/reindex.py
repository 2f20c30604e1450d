"""Indexes for what was logged before erasure had them: run once (`witryna reindex-logs`)."""

from __future__ import annotations

import msgspec
from msgspec import Struct

from service.storage.client import Client
from service.storage.keys import TALLIES_KEY, logged_key
from service.storage.streams import INDEX_GRACE_S, STREAM_OF, entries, logged_member

# Index entries per round trip.
CHUNK = 1000


class _Whose(Struct):
    """The one field an index needs from a logged event or decision."""

    visitor_id: str


_whose = msgspec.msgpack.Decoder(_Whose).decode


async def reindex(client: Client, retention_s: int) -> tuple[int, int]:
    """Index every stream entry under its writer's id and register every tally set; returns
    how many of each. Reads the streams and the keyspace through: this is what erasure is
    spared."""
    indexed = 0
    for what, stream in STREAM_OF.items():
        pipe = client.pipeline(transaction=False)
        async for entry_id, payload in entries(client, stream):
            index = logged_key(_whose(payload).visitor_id)
            pipe.sadd(index, logged_member(what, entry_id))
            pipe.expire(index, retention_s + INDEX_GRACE_S)
            indexed += 1
            if indexed % CHUNK == 0:
                await pipe.execute()
        await pipe.execute()
    tallies = [
        key
        async for key in client.scan_iter(match="w:{exp:*")
        if key.endswith((b":exposed", b":converted"))
    ]
    if tallies:
        await client.sadd(TALLIES_KEY, *tallies)
    return indexed, len(tallies)
