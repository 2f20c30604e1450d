"""The demo store's catalogue is the simulator's: regenerating it changes nothing."""

from __future__ import annotations

import json

from service.http.storefront import STATIC
from training.data.catalogue import build_catalogue
from training.data.demo_catalogue import demo_catalogue_js


def test_the_shipped_demo_catalogue_is_the_simulators() -> None:
    shipped = (STATIC / "demo" / "catalog.js").read_text()
    assert shipped == demo_catalogue_js(), "run `witryna demo-catalogue` and commit the file"
    items = json.loads(shipped.split("=", 1)[1].rstrip(";\n"))["items"]
    catalogue = build_catalogue()
    assert [i["item_id"] for i in items] == list(catalogue.items)
    assert all(i["price"] == catalogue.price_of[i["item_id"]] for i in items)
    assert len({i["title"] for i in items}) == len(items), "every product has its own name"
