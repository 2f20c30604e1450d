"""Logged events (one JSON object per line) to sessions.

A bad line is counted and reported, never fatal: one corrupt write in a long log should
not cost a retraining run.
"""

from __future__ import annotations

import itertools
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from service.schema import CheckedEvent, StoredEvent

SESSION_GAP_S = 30 * 60
# Checked, and lenient like the service's Redis reader: a field added by a newer release is ignored.
_decoder = msgspec.json.Decoder(CheckedEvent)


@dataclass
class ParsedEvents:
    events: list[StoredEvent] = field(default_factory=list)
    invalid: int = 0
    first_error: str = ""


def decode_event(line: bytes) -> StoredEvent:
    """One logged event; ``ValueError`` says why a line is not one (training/adapters streams
    files through this, so that both readers accept exactly the same lines)."""
    try:
        event = _decoder.decode(line)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValueError(str(exc)) from None
    if event.ts is None:
        raise ValueError("no ts, so it cannot be ordered")
    return event


def parse_events(lines: Iterable[bytes]) -> ParsedEvents:
    """Events of non-blank lines; lines that fail to decode, or lack ``ts``, are counted."""
    parsed = ParsedEvents()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            parsed.events.append(decode_event(line))
        except ValueError as exc:
            _reject(parsed, f"line {number}: {exc}")
    return parsed


def _reject(parsed: ParsedEvents, error: str) -> None:
    parsed.invalid += 1
    parsed.first_error = parsed.first_error or error


def read_events_jsonl(path: Path | str) -> list[StoredEvent]:
    """The valid events of a JSONL file; a count of invalid lines goes to stderr."""
    with Path(path).open("rb") as lines:
        parsed = parse_events(lines)
    if parsed.invalid:
        print(
            f"{path}: skipped {parsed.invalid} invalid line(s); first: {parsed.first_error}",
            file=sys.stderr,
        )
    return parsed.events


def group_sessions(
    events: Iterable[StoredEvent], gap_s: float = SESSION_GAP_S
) -> list[list[StoredEvent]]:
    """Sessions by ``(visitor_id, session_id)``; without a session id, a visitor's events are
    split where more than ``gap_s`` seconds pass. Sessions are time-ordered, oldest first."""
    by_key: dict[tuple[str, str | None], list[StoredEvent]] = defaultdict(list)
    for event in events:
        by_key[(event.visitor_id, event.session_id)].append(event)
    sessions: list[list[StoredEvent]] = []
    for (_, session_id), group in by_key.items():
        group.sort(key=_ts)
        sessions.extend([group] if session_id is not None else _split_on_gaps(group, gap_s))
    sessions.sort(key=lambda session: _ts(session[0]))
    return sessions


def _split_on_gaps(events: list[StoredEvent], gap_s: float) -> list[list[StoredEvent]]:
    sessions = [[events[0]]]
    for previous, event in itertools.pairwise(events):
        if _ts(event) - _ts(previous) > gap_s:
            sessions.append([])
        sessions[-1].append(event)
    return sessions


def _ts(event: StoredEvent) -> float:
    return event.ts if event.ts is not None else 0.0


def read_sessions_jsonl(path: Path | str) -> list[list[StoredEvent]]:
    return group_sessions(read_events_jsonl(path))
