"""The one progress bar of training/: on stderr, redrawn sparingly off a terminal.

Every bar here is driven by hand (``update(n)``) because what is counted (bytes, rows,
prefixes, batches) arrives in chunks of varying size, so the helper returns the bar itself;
it is a context manager, and with ``enabled=False`` a silent one.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from tqdm import tqdm

# Off a terminal (CI logs) a bar redraws every few seconds rather than every step.
_TERMINAL_INTERVAL_S, _LOG_INTERVAL_S = 0.1, 5.0


def progress(
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
