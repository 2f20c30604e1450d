"""The one progress bar of every long command: load-catalog, bench and training's."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Never, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(
    items: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """``items``, with a bar on stderr that goes away when done; silent when not a terminal
    only if tqdm decides so (it still prints a final line, which logs keep)."""
    yield from tqdm(items, desc=desc, total=total, unit=unit, leave=False, dynamic_ncols=True)


def bar(*, desc: str, total: int, unit: str = "it") -> tqdm[Never]:
    """A bar advanced by hand (``bar.update(n)``), for work that comes in chunks."""
    return tqdm(desc=desc, total=total, unit=unit, leave=False, dynamic_ncols=True)
