"""What a read found: counts, and the first few bad rows as ``file:line: column X: problem``.

A bad row is counted and reported, never fatal: one corrupt line in a month of clicks should
not cost a retraining run. A bad mapping or a missing column is fatal, because then every
row would be dropped for the same reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


class AdapterError(ValueError):
    """The file cannot be read as asked (missing column, bad mapping): names file, line, column."""


class RowProblem(ValueError):
    """One row (or one event of a row) that cannot become an event."""

    def __init__(self, column: str, problem: str, reason: str | None = None) -> None:
        super().__init__(f"column {column}: {problem}")
        self.column = column
        self.problem = problem
        # The reason is the bucket the summary counts under, so it must not hold row values.
        self.reason = reason or f"bad {column}"


@dataclass
class ReadReport:
    """Counts of one read; ``bytes_read`` lets a caller see how far into the file it got."""

    rows: int = 0
    events: int = 0
    sessions: int = 0
    invalid: int = 0
    bytes_read: int = 0
    # Most sessions held open at once while sessionising: what reading costs in memory.
    max_open_sessions: int = 0
    files: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    max_examples: int = 5

    def reject(self, path: str, line: int, problem: RowProblem) -> None:
        self.invalid += 1
        self.reasons[problem.reason] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(f"{path}:{line}: {problem}")

    def summary(self) -> str:
        where = ", ".join(self.files) or "no file"
        text = (
            f"{where}: {self.rows:,} rows, {self.events:,} events, "
            f"{self.sessions:,} sessions, {self.invalid:,} invalid"
        )
        if self.invalid:
            counts = "; ".join(f"{reason}: {n:,}" for reason, n in self.reasons.most_common())
            text += f" ({counts})\n  first: " + "\n  first: ".join(self.examples)
        return text
