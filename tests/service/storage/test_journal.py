"""The journal on a real disk: what one worker keeps, another replays after it stops."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.errors import BufferFull
from service.schema import StoredEvent
from service.storage.journal import Journal


def events(n: int, start: int = 0) -> list[StoredEvent]:
    return [
        StoredEvent(visitor_id=f"v-{i % 3}", type="click", query=f"q{i}", ts=1.7e9 + i)
        for i in range(start, start + n)
    ]


def drained(journal: Journal, batch: int = 4) -> list[StoredEvent]:
    out = []
    while (found := journal.next_batch(batch)) is not None:
        segment, read, end = found
        out.extend(event for event, _ in read)
        journal.reached(segment, end, len(read))
    return out


def test_events_are_read_back_in_order_and_an_emptied_segment_starts_over(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path, 2**20, fsync_always=True)
    journal.open()
    journal.append(events(5))
    journal.append(events(5, start=5))
    assert journal.waiting == 10
    assert [e.query for e in drained(journal)] == [f"q{i}" for i in range(10)]
    assert journal.waiting == 0
    assert journal.own is not None
    assert os.path.getsize(journal.own.path) == 0
    assert journal.close() == 0
    assert list(tmp_path.iterdir()) == [], "nothing left behind once everything reached Redis"


def test_a_stopped_workers_events_are_adopted_from_where_redis_stopped_taking_them(
    tmp_path: Path,
) -> None:
    first = Journal(tmp_path, 2**20, fsync_always=False)
    first.open()
    first.append(events(10))
    found = first.next_batch(4)
    assert found is not None
    segment, read, end = found
    first.reached(segment, end, len(read))
    assert first.close() == 6

    second = Journal(tmp_path, 2**20, fsync_always=False)
    second.open()
    assert second.waiting == 6
    assert [e.query for e in drained(second)] == [f"q{i}" for i in range(4, 10)]
    second.close()
    assert list(tmp_path.iterdir()) == []


def test_whether_purchases_convert_is_kept_with_each_event(tmp_path: Path) -> None:
    journal = Journal(tmp_path, 2**20, fsync_always=False)
    journal.open()
    journal.append(events(2), converts=True)
    journal.append(events(1, start=2))
    found = journal.next_batch(10)
    assert found is not None
    assert [(e.query, converts) for e, converts in found[1]] == [
        ("q0", True), ("q1", True), ("q2", False),
    ]  # fmt: skip
    journal.close()


def test_a_live_workers_segment_is_not_adopted(tmp_path: Path) -> None:
    first = Journal(tmp_path, 2**20, fsync_always=False)
    first.open()
    first.append(events(3))
    second = Journal(tmp_path, 2**20, fsync_always=False)
    second.open()
    assert second.waiting == 0, "the first worker still holds its lock"
    first.close()
    assert second.adopt() == 3
    second.close()


def test_a_frame_cut_short_by_a_crash_ends_the_segment(tmp_path: Path) -> None:
    first = Journal(tmp_path, 2**20, fsync_always=False)
    first.open()
    first.append(events(3))
    assert first.own is not None
    path = first.own.path
    first.close()
    with path.open("ab") as torn:
        torn.write(b"\x40\x00\x00\x00partial")
    second = Journal(tmp_path, 2**20, fsync_always=False)
    second.open()
    assert [e.query for e in drained(second)] == ["q0", "q1", "q2"]
    second.close()


def test_a_full_journal_refuses_with_retry(tmp_path: Path) -> None:
    journal = Journal(tmp_path, 200, fsync_always=False)
    journal.open()
    journal.append(events(3))
    with pytest.raises(BufferFull) as refused:
        journal.append(events(1))
    assert "journal of 200 bytes is full" in str(refused.value)
    assert refused.value.status_code == 503
    journal.close()
