"""The modules with slow tests run first: `make test` hands whole files to two processes in
collection order (``--dist loadfile --no-loadscope-reorder``), and a minute-long file
collected last would leave one process working alone at the end while the other waits."""

from __future__ import annotations

import pytest


# Last: after the fixtures have grouped each module's tests and ``-m`` has deselected some.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    # A stable sort: each module's tests stay together and in their order.
    items.sort(key=lambda item: item.path not in slow)
