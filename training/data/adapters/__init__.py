"""Streaming readers of real clickstreams into Witryna's event schema, and sessions of them.

``read_sessions(path, "rees46")`` yields lists of ``StoredEvent``, one per session, without
loading the file: data loading streams files larger than memory. Formats: see ``FORMATS``.
Bad rows are counted in a ``ReadReport`` (pass one in to keep it) and summarised on stderr.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from service.schema import StoredEvent
from training.data.adapters import formats
from training.data.adapters.generic import ColumnMapping, generic_csv, generic_jsonl
from training.data.adapters.report import AdapterError, ReadReport, RowProblem
from training.data.adapters.sessions import MAX_OPEN, REORDER, stream_sessions
from training.data.events_jsonl import SESSION_GAP_S

__all__ = [
    "FORMATS",
    "AdapterError",
    "ColumnMapping",
    "ReadReport",
    "RowProblem",
    "read_events",
    "read_sessions",
]

Reader = Callable[[Path, ReadReport, bool, ColumnMapping], Iterator[StoredEvent]]
Paths = Path | str | Sequence[Path | str]


@dataclass(frozen=True)
class Format:
    description: str
    read: Reader
    mapped: bool = False  # reads through a column mapping


def _fixed(read: Callable[[Path, ReadReport, bool], Iterator[StoredEvent]]) -> Reader:
    return lambda path, report, progress, _mapping: read(path, report, progress)


FORMATS: dict[str, Format] = {
    "rees46": Format("REES46 CSV (event_time,event_type,product_id,...)", _fixed(formats.rees46)),
    "otto": Format("OTTO JSONL, one session a line", _fixed(formats.otto)),
    "diginetica": Format("DIGINETICA item views CSV (;-separated)", _fixed(formats.diginetica)),
    "jdata": Format("JData JData_Action_*.csv (split on 30-min gaps)", _fixed(formats.jdata)),
    "witryna": Format("Witryna's own events JSONL", _fixed(formats.witryna)),
    "csv": Format("any CSV through --map FIELD=COLUMN", generic_csv, mapped=True),
    "jsonl": Format("any JSONL through --map FIELD=KEY", generic_jsonl, mapped=True),
}


def read_events(
    path: Paths,
    fmt: str,
    mapping: ColumnMapping | str | Sequence[str] | None = None,
    *,
    report: ReadReport | None = None,
    progress: bool = True,
) -> Iterator[StoredEvent]:
    """Validated events in file order (files one after another), lazily."""
    spec = _format(fmt)
    if not isinstance(mapping, ColumnMapping):
        mapping = ColumnMapping.parse(mapping)
    if (mapping.columns or mapping.types) and not spec.mapped:
        raise AdapterError(f"format {fmt!r} has fixed columns; --map is for csv and jsonl")
    report = report if report is not None else ReadReport()
    paths = [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]
    for one in paths:
        if not one.is_file():
            raise AdapterError(f"{one}: no such file")
        report.files.append(str(one))
    return itertools.chain.from_iterable(spec.read(one, report, progress, mapping) for one in paths)


def read_sessions(
    path: Paths,
    fmt: str,
    mapping: ColumnMapping | str | Sequence[str] | None = None,
    *,
    report: ReadReport | None = None,
    progress: bool = True,
    gap_s: float = SESSION_GAP_S,
    max_open: int = MAX_OPEN,
    reorder: int = REORDER,
) -> Generator[list[StoredEvent], None, None]:
    """Sessions, each time-ordered, oldest start first (see adapters/sessions.py for the
    bounded-buffer approximation); with ``progress`` a summary goes to stderr at the end."""
    report = report if report is not None else ReadReport()
    events = read_events(path, fmt, mapping, report=report, progress=progress)

    def on_open(count: int) -> None:
        report.max_open_sessions = count

    sessions = stream_sessions(events, gap_s, max_open, reorder, on_open)
    return _counted(sessions, report, progress)


def _counted(
    sessions: Iterator[list[StoredEvent]], report: ReadReport, progress: bool
) -> Generator[list[StoredEvent], None, None]:
    for session in sessions:
        report.sessions += 1
        yield session
    if progress:
        print(report.summary(), file=sys.stderr)


def _format(fmt: str) -> Format:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise AdapterError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}") from None
