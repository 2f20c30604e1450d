"""Every route of the service, by resource, in the order the OpenAPI document lists them."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from service.http import (
    catalogue,
    dashboard,
    demo_shop,
    experiments,
    operations,
    storefront,
    tracking,
    visitors,
)
from service.http.parts import Parts


def routes(parts: Parts) -> list[HTTPRouteHandler]:
    return [
        *tracking.routes(parts),
        *catalogue.routes(parts),
        *experiments.routes(parts),
        *visitors.routes(parts),
        *operations.routes(parts),
        *dashboard.routes(parts),
        *storefront.routes(parts.settings),
        *demo_shop.routes(parts),
    ]
