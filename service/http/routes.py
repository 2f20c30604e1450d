"""Every route of the service, by resource, in the order the OpenAPI document lists them,
each declaring its keys and errors there (service/http/openapi.py)."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from service.http import (
    catalogue,
    dashboard,
    demo_shop,
    experiments,
    landing,
    openapi,
    operations,
    storefront,
    tracking,
    visitors,
)
from service.http.parts import Parts


def routes(parts: Parts) -> list[HTTPRouteHandler]:
    return openapi.document(
        [
            *tracking.routes(parts),
            *catalogue.routes(parts),
            *experiments.routes(parts),
            *visitors.routes(parts),
            *operations.routes(parts),
            *dashboard.routes(parts),
            *storefront.routes(parts.settings),
            *demo_shop.routes(parts),
            *landing.routes(parts.settings),
        ]
    )
