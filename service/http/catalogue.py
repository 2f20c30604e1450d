"""The catalogue: items upserted by the shop, read by every carousel."""

from __future__ import annotations

from typing import Any

from litestar import Request, put
from litestar.handlers import HTTPRouteHandler

from service.http import bodies
from service.http.openapi import json_body, problems
from service.http.parts import Parts
from service.schema import Accepted
from service.storage.catalog import ItemBatch, batch_decoder


def routes(parts: Parts) -> list[HTTPRouteHandler]:
    @put(
        "/v1/catalog/items",
        summary="Upsert catalogue items",
        tags=["catalogue"],
        operation_class=json_body(ItemBatch),
        responses=problems(503),
    )
    async def catalog_items(request: Request[Any, Any, Any]) -> Accepted:
        """Upsert items: fields left out keep their value; ``in_stock: false`` hides an item.
        Carousels show only items the catalogue holds in stock."""
        batch = bodies.decode(batch_decoder, await bodies.read(request))
        return Accepted(accepted=await parts.catalog.upsert(batch.items))

    return [catalog_items]
