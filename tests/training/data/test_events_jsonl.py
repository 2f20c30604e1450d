"""Reading logged events: bad lines are counted, sessions are found."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from service.schema import StoredEvent
from training.data.dataset import read_events_jsonl
from training.data.events_jsonl import group_sessions, parse_events, read_sessions_jsonl

T0 = 1_800_000_000.0


def line(**fields: object) -> bytes:
    return msgspec.json.encode({"visitor_id": "v1", "type": "home_view", **fields})


def test_bad_lines_are_counted_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        line(ts=T0, session_id="a"),
        b"{not json",
        line(ts=T0 + 1, type="teleport"),
        line(session_id="a"),
        b"",
        line(ts=T0 + 2, session_id="a", type="product_view", item_id="sku-1", future_field=1),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    events = read_events_jsonl(path)
    assert [e.type for e in events] == ["home_view", "product_view"]
    assert "skipped 3 invalid line(s)" in capsys.readouterr().err
    assert parse_events(lines).invalid == 3


def stored(ts: float, visitor: str = "v1", session: str | None = None) -> StoredEvent:
    return StoredEvent(visitor_id=visitor, session_id=session, type="home_view", ts=ts)


def test_sessions_by_id_and_by_thirty_minute_gaps() -> None:
    events = [
        stored(T0 + 5000, session="s1"),
        stored(T0, session="s1"),
        stored(T0),
        stored(T0 + 29 * 60),
        stored(T0 + 29 * 60 + 31 * 60),
        stored(T0 + 10, visitor="v2"),
    ]
    sessions = group_sessions(events)
    shapes = sorted((s[0].visitor_id, s[0].session_id or "-", len(s)) for s in sessions)
    assert shapes == [("v1", "-", 1), ("v1", "-", 2), ("v1", "s1", 2), ("v2", "-", 1)]
    for session in sessions:
        times = [e.ts for e in session]
        assert times == sorted(times)
    starts = [s[0].ts for s in sessions]
    assert starts == sorted(starts)


def test_read_sessions_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([line(ts=T0), line(ts=T0 + 60), line(ts=T0 + 7200)]))
    assert [len(s) for s in read_sessions_jsonl(path)] == [2, 1]
