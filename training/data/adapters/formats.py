"""Readers of public clickstream formats and of Witryna's own event log.

Each reader is a generator of validated events in file order; a bad row is counted in the
report with its line and column and skipped. Nothing here holds more than one row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from service.schema import StoredEvent
from training.data.adapters.fields import (
    make_event,
    number_id,
    price,
    schema_problem,
    timestamp,
    utc_offset,
    visitor,
)
from training.data.adapters.report import ReadReport, RowProblem
from training.data.adapters.source import csv_rows, json_lines, lines
from training.data.events_jsonl import decode_event

Row = dict[str, Any]

REES46_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
)
REES46_COLUMNS += ("price", "user_id", "user_session")
REES46_TYPES = {
    "view": "product_view",
    "cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "purchase": "purchase",
}
OTTO_TYPES = {"clicks": "product_view", "carts": "add_to_cart", "orders": "purchase"}
DIGINETICA_COLUMNS = ("session_id", "item_id", "timeframe", "eventdate")
JDATA_COLUMNS = ("user_id", "sku_id", "time", "type", "cate")
JDATA_TYPES = {
    "1": "product_view",
    "2": "add_to_cart",
    "3": "remove_from_cart",
    "4": "purchase",
    "5": "click",  # follow
    "6": "click",
}
# JD.com logs Beijing time without a zone; only gaps and hour-of-day depend on it.
JDATA_TZ = utc_offset(8)


def convert_rows(
    path: Path,
    rows: Iterator[tuple[int, Any]],
    convert: Callable[[Any], StoredEvent],
    report: ReadReport,
) -> Iterator[StoredEvent]:
    """The events of ``rows``; a row that ``convert`` rejects is counted, not fatal."""
    for line, row in rows:
        try:
            event = convert(row)
        except RowProblem as problem:
            report.reject(str(path), line, problem)
            continue
        report.events += 1
        yield event


def event_type(raw: Any, types: dict[str, str], column: str) -> str:
    try:
        return types[str(raw).strip()]
    except KeyError:
        known = ", ".join(types)
        raise RowProblem(
            column, f"unknown event type {raw!r} (known: {known})", "unknown type"
        ) from None


def _rees46(row: Row) -> StoredEvent:
    fields = {
        "visitor_id": visitor(row["user_id"], "user_id"),
        "session_id": row["user_session"].strip() or None,
        "type": event_type(row["event_type"], REES46_TYPES, "event_type"),
        "item_id": row["product_id"].strip() or None,
        "category": row["category_code"].strip() or row["category_id"].strip() or None,
        "price": price(row["price"], "price"),
        "ts": timestamp(row["event_time"], "event_time"),
    }
    return make_event(fields, _REES46_SOURCE)


_REES46_SOURCE = {"visitor_id": "user_id", "session_id": "user_session", "type": "event_type"}
_REES46_SOURCE |= {"item_id": "product_id", "category": "category_code", "ts": "event_time"}


def rees46(path: Path, report: ReadReport, progress: bool) -> Iterator[StoredEvent]:
    rows = csv_rows(path, report, progress, REES46_COLUMNS)
    return convert_rows(path, rows, _rees46, report)


def _otto_events(path: Path, report: ReadReport, progress: bool) -> Iterator[tuple[int, Row]]:
    """One row per event of each session line, so that a bad event costs only itself."""
    for line, session in json_lines(path, report, progress):
        events = session.get("events") if isinstance(session, dict) else None
        if not isinstance(events, list) or "session" not in session:
            report.reject(str(path), line, RowProblem("session", "no session/events", "bad line"))
            continue
        for index, event in enumerate(events):
            yield line, {"session": session["session"], "index": index, "event": event}


def _otto(row: Row) -> StoredEvent:
    event, where = row["event"], f"events[{row['index']}]"
    if not isinstance(event, dict):
        raise RowProblem(where, f"not an object: {event!r}", "bad event")
    session = str(row["session"])
    fields = {
        "visitor_id": visitor(f"otto-{session}", "session"),
        "session_id": session,
        "type": event_type(event.get("type"), OTTO_TYPES, f"{where}.type"),
        "item_id": None if event.get("aid") is None else str(event["aid"]),
        "ts": timestamp(event.get("ts"), f"{where}.ts"),
    }
    return make_event(fields, {"item_id": f"{where}.aid", "ts": f"{where}.ts"})


def otto(path: Path, report: ReadReport, progress: bool) -> Iterator[StoredEvent]:
    return convert_rows(path, _otto_events(path, report, progress), _otto, report)


def _diginetica(row: Row) -> StoredEvent:
    session = row["session_id"].strip()
    # The session stands for the visitor: most rows have user_id "NA", and the sample has
    # sessions whose rows name two users or a user and "NA", which would split them.
    who = f"dg-s{session}"
    try:
        offset_s = int(row["timeframe"]) / 1000
    except ValueError:
        raise RowProblem("timeframe", f"not milliseconds: {row['timeframe']!r}") from None
    fields = {
        "visitor_id": visitor(who, "session_id"),
        "session_id": session or None,
        "type": "product_view",
        "item_id": row["item_id"].strip() or None,
        "ts": timestamp(row["eventdate"], "eventdate") + offset_s,
    }
    return make_event(fields, {"item_id": "item_id", "session_id": "session_id"})


def diginetica(path: Path, report: ReadReport, progress: bool) -> Iterator[StoredEvent]:
    rows = csv_rows(path, report, progress, DIGINETICA_COLUMNS, delimiter=";")
    return convert_rows(path, rows, _diginetica, report)


def _jdata(row: Row) -> StoredEvent:
    fields = {
        "visitor_id": visitor(number_id(row["user_id"]), "user_id"),
        "type": event_type(row["type"], JDATA_TYPES, "type"),
        "item_id": row["sku_id"].strip() or None,
        "category": row["cate"].strip() or None,
        "ts": timestamp(row["time"], "time", JDATA_TZ),
    }
    return make_event(fields, {"item_id": "sku_id", "category": "cate", "ts": "time"})


def jdata(path: Path, report: ReadReport, progress: bool) -> Iterator[StoredEvent]:
    return convert_rows(path, csv_rows(path, report, progress, JDATA_COLUMNS), _jdata, report)


def _witryna_lines(path: Path, report: ReadReport, progress: bool) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(lines(path, report, progress), start=1):
        if line.strip():
            report.rows += 1
            yield number, line


def _witryna(line: bytes) -> StoredEvent:
    try:
        return decode_event(line)
    except ValueError as exc:
        raise schema_problem(str(exc), {}) from None


def witryna(path: Path, report: ReadReport, progress: bool) -> Iterator[StoredEvent]:
    """Witryna's own log, decoded exactly as training/data/events_jsonl.py decodes it."""
    return convert_rows(path, _witryna_lines(path, report, progress), _witryna, report)
