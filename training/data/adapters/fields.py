"""Field parsing shared by the adapters: timestamps, visitor ids, and schema validation.

Constructing a msgspec Struct does not check its constraints, so every event goes through
``msgspec.convert``: an item id of 70 characters is a counted bad row here, not a 4xx at
serving time or a crash in the encoder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import msgspec

from service.schema import CheckedEvent, StoredEvent
from training.data.adapters.report import RowProblem

_NOT_VISITOR = re.compile(r"[^A-Za-z0-9._:@\-]+")
_AT_FIELD = re.compile(r" - at `\$\.(\w+)")
# Epoch seconds reach 1e11 only in the year 5138, so a larger number is milliseconds.
_MS_THRESHOLD = 1e11


def visitor(raw: str, column: str) -> str:
    """A visitor id the schema accepts: characters outside its pattern become ``_``."""
    value = _NOT_VISITOR.sub("_", raw.strip())[:128]
    if not value.strip("_"):
        raise RowProblem(column, f"empty visitor id {raw!r}", "missing visitor id")
    return value


def number_id(raw: str) -> str:
    """``"266079.0"`` (an id written by pandas as a float) as ``"266079"``."""
    raw = raw.strip()
    return raw[:-2] if raw.endswith(".0") and raw[:-2].isdigit() else raw


def timestamp(raw: Any, column: str, tz: timezone = UTC) -> float:
    """Epoch seconds from seconds, milliseconds or an ISO-like date (naive means ``tz``)."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
        return value / 1000 if value > _MS_THRESHOLD else value
    if not isinstance(raw, str) or not raw.strip():
        raise RowProblem(column, f"no timestamp in {raw!r}", "bad timestamp")
    try:
        return _parse_text_ts(raw.strip(), tz)
    except ValueError:
        raise RowProblem(column, f"not a timestamp: {raw!r}", "bad timestamp") from None


@lru_cache(maxsize=8192)  # clickstreams repeat each second many times
def _parse_text_ts(raw: str, tz: timezone) -> float:
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        return value / 1000 if value > _MS_THRESHOLD else value
    text = raw.removesuffix(" UTC").removesuffix("Z")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def utc_offset(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


def price(raw: str, column: str) -> float | None:
    if not raw.strip():
        return None
    try:
        return float(raw)
    except ValueError:
        raise RowProblem(column, f"not a number: {raw!r}", "bad price") from None


def make_event(fields: dict[str, Any], columns: Mapping[str, str]) -> StoredEvent:
    """A validated event; a schema violation names the source column it came from."""
    try:
        return msgspec.convert(fields, CheckedEvent)
    except msgspec.ValidationError as exc:
        raise schema_problem(str(exc), columns) from None


def schema_problem(message: str, columns: Mapping[str, str]) -> RowProblem:
    """A msgspec error (``... - at `$.item_id```) as a problem of the source column."""
    found = _AT_FIELD.search(message)
    if not found:
        return RowProblem("*", message, "invalid event")
    name = found.group(1)
    return RowProblem(columns.get(name, name), message.split(" - at ")[0], f"invalid {name}")
