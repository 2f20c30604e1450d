"""Any shop's CSV or JSONL export, through a column mapping.

``--map visitor_id=user,type=action,ts=time,item_id=sku`` names the column of each event
field; ``type:buy=purchase`` maps a value of the type column to an event type. A field
left unmapped is read from a column of its own name when there is one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from service.schema import EventType, StoredEvent
from training.data.adapters.fields import make_event, number_id, timestamp, visitor
from training.data.adapters.formats import convert_rows
from training.data.adapters.report import AdapterError, ReadReport, RowProblem
from training.data.adapters.source import csv_rows, json_lines

FIELDS: tuple[str, ...] = (
    "visitor_id",
    "type",
    "ts",
    "session_id",
    "item_id",
    "category",
    "price",
    "query",
)
FIELDS += ("channel",)
REQUIRED = ("visitor_id", "type", "ts")
EVENT_TYPES = frozenset(get_args(EventType))


@dataclass(frozen=True)
class ColumnMapping:
    columns: dict[str, str] = field(default_factory=dict)  # event field -> source column
    types: dict[str, str] = field(default_factory=dict)  # source value -> event type

    @classmethod
    def parse(cls, spec: str | Sequence[str] | None) -> ColumnMapping:
        """From ``"field=column,type:value=event_type"`` (or a list of such strings)."""
        entries = [spec] if isinstance(spec, str) else list(spec or [])
        mapping = cls()
        for entry in ",".join(entries).split(","):
            if entry.strip():
                mapping._add(entry.strip())
        return mapping

    def _add(self, entry: str) -> None:
        name, sep, value = entry.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise AdapterError(f"mapping {entry!r}: expected FIELD=COLUMN or type:VALUE=TYPE")
        if name.startswith("type:"):
            if value not in EVENT_TYPES:
                known = ", ".join(sorted(EVENT_TYPES))
                raise AdapterError(f"mapping {entry!r}: {value!r} is no event type ({known})")
            self.types[name.removeprefix("type:")] = value
        elif name in FIELDS:
            self.columns[name] = value
        else:
            raise AdapterError(f"mapping {entry!r}: unknown field {name!r} (fields: {FIELDS})")

    def resolve(self, path: Path, line: int, available: Sequence[str]) -> dict[str, str]:
        """Field -> column for this file; a mapped or required column it lacks is fatal."""
        resolved: dict[str, str] = {}
        for name in FIELDS:
            column = self.columns.get(name, name)
            if column in available:
                resolved[name] = column
            elif name in self.columns or name in REQUIRED:
                hint = "" if name in self.columns else f"; map it with --map {name}=COLUMN"
                raise AdapterError(
                    f"{path}:{line}: column {column}: not in the file (has {list(available)})"
                    f" for field {name}{hint}"
                )
        return resolved

    def event(self, row: dict[str, Any], columns: dict[str, str]) -> StoredEvent:
        fields: dict[str, Any] = {}
        for name, column in columns.items():
            raw = row.get(column)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            fields[name] = self._value(name, raw, column)
        for name in REQUIRED:
            if name not in fields:
                raise RowProblem(columns[name], "empty", f"missing {name}")
        return make_event(fields, columns)

    def _value(self, name: str, raw: Any, column: str) -> Any:
        if name == "visitor_id":
            return visitor(number_id(str(raw)), column)
        if name == "ts":
            return timestamp(raw, column)
        if name == "type":
            value = str(raw).strip()
            value = self.types.get(value, value)
            if value not in EVENT_TYPES:
                hint = f"; map it with --map type:{value}=EVENT_TYPE"
                raise RowProblem(column, f"unknown event type {value!r}{hint}", "unknown type")
            return value
        if name == "price":
            try:
                return float(raw)
            except (TypeError, ValueError):
                raise RowProblem(column, f"not a number: {raw!r}", "bad price") from None
        return str(raw).strip()


def generic_csv(
    path: Path, report: ReadReport, progress: bool, mapping: ColumnMapping
) -> Iterator[StoredEvent]:
    rows = csv_rows(path, report, progress, delimiter=_sniff_delimiter(path))
    first = next(rows, None)
    if first is None:
        return
    columns = mapping.resolve(path, 1, list(first[1]))
    yield from convert_rows(path, _chain(first, rows), lambda r: mapping.event(r, columns), report)


def generic_jsonl(
    path: Path, report: ReadReport, progress: bool, mapping: ColumnMapping
) -> Iterator[StoredEvent]:
    """JSONL has no header: the first object stands for one, later ones may lack optionals."""
    rows = json_lines(path, report, progress)
    first = next(rows, None)
    if first is None:
        return
    line, row = first
    if not isinstance(row, dict):
        raise AdapterError(f"{path}:{line}: column *: expected a JSON object per line")
    columns = mapping.resolve(path, line, list(row))
    rows = _objects(path, _chain(first, rows), report)
    yield from convert_rows(path, rows, lambda r: mapping.event(r, columns), report)


def _objects(
    path: Path, rows: Iterator[tuple[int, Any]], report: ReadReport
) -> Iterator[tuple[int, Any]]:
    for line, row in rows:
        if isinstance(row, dict):
            yield line, row
        else:
            report.reject(str(path), line, RowProblem("*", "not a JSON object", "not an object"))


def _chain(first: tuple[int, Any], rest: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    yield first
    yield from rest


def _sniff_delimiter(path: Path) -> str:
    """The header line's most frequent of ``, ; TAB |``: shops export all of them."""
    with path.open("rb") as handle:
        header = handle.readline().decode("utf-8", errors="replace")
    return max(",;\t|", key=header.count)
