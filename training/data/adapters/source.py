"""Streaming row sources: lines of a file as they are read, with a bytes-based progress bar.

Bytes, not rows, drive the bar, so that it has an ETA without a first pass to count rows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from service.cli.progress import bar as progress_bar
from training.data.adapters.report import AdapterError, ReadReport, RowProblem

# Updating the bar per line would cost more than parsing the line.
_BAR_STEP = 1 << 20


def lines(path: Path, report: ReadReport, progress: bool) -> Iterator[bytes]:
    """The file's lines, read lazily; ``report.bytes_read`` follows the reader."""
    size = path.stat().st_size
    bar = progress_bar(
        total=size, desc=path.name, unit="B", enabled=progress, unit_scale=True, unit_divisor=1024
    )
    pending = 0
    with bar, path.open("rb") as handle:
        for line in handle:
            report.bytes_read += len(line)
            pending += len(line)
            if pending >= _BAR_STEP:
                bar.update(pending)
                pending = 0
            yield line
        bar.update(pending)


def csv_rows(
    path: Path,
    report: ReadReport,
    progress: bool,
    required: Sequence[str] = (),
    delimiter: str = ",",
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row by header name)``; a row of the wrong width is counted, not fatal."""
    text = (line.decode("utf-8", errors="replace") for line in lines(path, report, progress))
    reader = csv.reader(text, delimiter=delimiter)
    header = [name.strip().lstrip("\ufeff") for name in next(reader, [])]
    for column in required:
        if column not in header:
            raise AdapterError(
                f"{path}:1: column {column}: missing from the header {header} "
                f"(delimiter {delimiter!r})"
            )
    for row in reader:
        if not row or not any(value.strip() for value in row):
            continue
        report.rows += 1
        if len(row) != len(header):
            problem = f"{len(row)} fields where the header has {len(header)}"
            report.reject(str(path), reader.line_num, RowProblem("*", problem, "wrong field count"))
            continue
        yield reader.line_num, dict(zip(header, row, strict=True))


def json_lines(path: Path, report: ReadReport, progress: bool) -> Iterator[tuple[int, Any]]:
    """``(line number, decoded JSON)`` of non-blank lines; a line that is not JSON is counted."""
    for number, line in enumerate(lines(path, report, progress), start=1):
        if not line.strip():
            continue
        report.rows += 1
        try:
            yield number, msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            report.reject(str(path), number, RowProblem("*", f"not JSON: {exc}", "not JSON"))
