"""Who may call each route: the one table of owners, held against the app's routes by a test.

A route that is not here is refused to everyone, so a new route without an owner fails closed
(and fails the suite)."""

from __future__ import annotations

from enum import StrEnum


class Owner(StrEnum):
    # Anyone: probes, the SDK file, the demo store's files.
    PUBLIC = "public"
    # The storefront: a publishable site key, which anyone may see (or a secret key).
    SITE = "site"
    # The shop's servers and operators: a secret key.
    SECRET = "secret"


ROUTES: dict[tuple[str, str], Owner] = {
    # What a browser sends about its own visitor.
    ("POST", "/v1/page-views"): Owner.SITE,
    ("POST", "/v1/events"): Owner.SITE,
    ("POST", "/v1/floor"): Owner.SITE,
    # A browser may change consent for its own anonymous id only (service/http/visitors.py).
    ("PUT", "/v1/visitors/{visitor_id}/consent"): Owner.SITE,
    # A browser links its visitor only with a token the shop's backend signed (visitors.py).
    ("POST", "/v1/identify"): Owner.SITE,
    # Everything about other people, the catalogue and the service itself.
    ("PUT", "/v1/catalog/items"): Owner.SECRET,
    ("GET", "/v1/visitors/{visitor_id}/profile"): Owner.SECRET,
    ("DELETE", "/v1/visitors/{visitor_id}"): Owner.SECRET,
    ("GET", "/v1/experiments/{experiment_id}"): Owner.SECRET,
    ("GET", "/dashboard"): Owner.SECRET,
    ("GET", "/dashboard/data"): Owner.SECRET,
    ("GET", "/metrics"): Owner.SECRET,
    # What this service is and where to go from it, and the icon browsers ask for.
    ("GET", "/"): Owner.PUBLIC,
    ("GET", "/favicon.ico"): Owner.PUBLIC,
    # Probes: up or ready and nothing more, unless asked with a secret key.
    ("GET", "/healthz"): Owner.PUBLIC,
    ("GET", "/readyz"): Owner.PUBLIC,
    ("GET", "/sdk/witryna.js"): Owner.PUBLIC,
    ("GET", "/demo"): Owner.PUBLIC,
    ("GET", "/demo/{name}"): Owner.PUBLIC,
    # The demo store's stand-in backend, only with WITRYNA_DEMO (service/http/demo_shop.py).
    ("POST", "/demo/orders"): Owner.PUBLIC,
    # The demo's arms: read for an id, or a new id in a chosen arm; it writes nothing.
    ("POST", "/demo/visitors"): Owner.PUBLIC,
}

# The OpenAPI document and its viewers (Litestar's own routes under /schema).
SCHEMA_PREFIX = "/schema"


def owner_of(method: str, path_template: str) -> Owner | None:
    if path_template == SCHEMA_PREFIX or path_template.startswith(f"{SCHEMA_PREFIX}/"):
        return Owner.SECRET
    # HEAD is GET without the body (service/http/head.py): the GET route's owner.
    return ROUTES.get(("GET" if method == "HEAD" else method, path_template))
