"""An event store as a worker builds one, on a real Redis and a journal of its own."""

from __future__ import annotations

from pathlib import Path

from service.storage.client import connect
from service.storage.events import EventStore
from service.storage.journal import Journal


def event_store(
    url: str,
    cluster: bool,
    journal_dir: Path,
    history_len: int = 50,
    ttl_s: int = 60,
    deadline_s: float = 1.0,
    journal_bytes: int = 2**20,
) -> EventStore:
    """Built inside the event loop that uses it, as the Redis client must be."""
    journal = Journal(journal_dir, journal_bytes, fsync_always=False)
    journal.open()
    return EventStore(connect(url, 1000, cluster), history_len, ttl_s, journal, deadline_s)
