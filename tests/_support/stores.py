"""An event store as a worker builds one, on a real Redis and a journal of its own."""

from __future__ import annotations

import tempfile
from pathlib import Path

from service.storage.client import connect
from service.storage.events import EventStore
from service.storage.journal import Journal


def event_store(
    url: str,
    cluster: bool,
    journal_dir: Path | None = None,
    history_len: int = 50,
    ttl_s: int = 60,
    deadline_s: float = 1.0,
    timeout_ms: int = 1000,
) -> EventStore:
    """Built inside the event loop that uses it, as the Redis client must be. Without a
    ``journal_dir`` the journal goes to a fresh temporary one."""
    directory = journal_dir or Path(tempfile.mkdtemp(prefix="witryna-journal-"))
    journal = Journal(directory, 2**20, fsync_always=False)
    journal.open()
    return EventStore(connect(url, timeout_ms, cluster), history_len, ttl_s, journal, deadline_s)
