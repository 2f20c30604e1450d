"""The page views the benchmarks send: random visitors over a model's items."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, get_args

from service.schema import PageType


def page_views(items: list[str], visitors: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    page_types = get_args(PageType)
    while True:
        page_type = rng.choice(page_types)
        page: dict[str, Any] = {"type": page_type}
        if page_type == "product":
            page["item_id"] = rng.choice(items)
        yield {"visitor_id": f"bench-{rng.randrange(visitors)}", "page": page}
