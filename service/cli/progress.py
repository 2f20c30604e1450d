"""The one progress bar of every long command: load-catalog, the benchmark and training.

On stderr, redrawn sparingly off a terminal. Most work arrives in chunks of varying size
(bytes, rows, prefixes, batches), so ``bar`` returns the bar itself to be driven by hand
(``update(n)``); it is a context manager, and with ``enabled=False`` a silent one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import NoReturn, TypeVar

from tqdm import tqdm

T = TypeVar("T")

# Off a terminal (CI logs) a bar redraws every few seconds rather than every step.
_TERMINAL_INTERVAL_S, _LOG_INTERVAL_S = 0.1, 5.0


def bar(
    *,
    total: int,
    desc: str | None = None,
    unit: str = "it",
    enabled: bool = True,
    unit_scale: bool = False,
    unit_divisor: int = 1000,
) -> tqdm[NoReturn]:
    """A bar to ``total``; ``unit_scale`` writes large counts as k/M (``unit_divisor`` 1024
    for bytes)."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit_scale,
        unit_divisor=unit_divisor,
        disable=not enabled,
        mininterval=_TERMINAL_INTERVAL_S if sys.stderr.isatty() else _LOG_INTERVAL_S,
    )


def progress(items: Iterable[T], *, total: int, desc: str, unit: str = "it") -> Iterator[T]:
    """``items``, counted one by one on a bar."""
    with bar(total=total, desc=desc, unit=unit) as shown:
        for item in items:
            yield item
            shown.update(1)
