"""GET /: what this service is and where to go from it, for whoever opens its address; and
/favicon.ico, which browsers ask of every page they show."""

from __future__ import annotations

import html
from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from msgspec import Struct

from service.http.headers import page_headers
from service.http.storefront import STATIC, StaticFile
from service.settings import PREFIX, Settings

LINKS_MARK = "<!-- links -->"


class Link(Struct, frozen=True):
    path: str
    title: str
    what: str
    # The boolean setting that serves the page; empty: always served.
    setting: str = ""


LINKS = (
    Link("/demo", "Demo store", "a small shop whose pages Witryna personalises", "demo"),
    Link("/dashboard", "Dashboard", "requests, latency and experiments, live (secret key)"),
    Link(
        "/schema/swagger",
        "API docs",
        "every operation, in Swagger UI (secret key); the document is /schema/openapi.json",
        "openapi",
    ),
    Link("/healthz", "/healthz", "liveness: the process is up"),
    Link("/readyz", "/readyz", "readiness: Redis answers and a model is loaded"),
)


def _item(link: Link, settings: Settings) -> str:
    title, what = html.escape(link.title), html.escape(link.what)
    if link.setting and not getattr(settings, link.setting):
        variable = f"{PREFIX}{link.setting.upper()}"
        return (
            f'    <li class="off"><strong>{title}</strong>: {what}. Off: start the service '
            f"with <code>{variable}=1</code> to serve it.</li>"
        )
    return f'    <li><a href="{link.path}">{title}</a>: {what}.</li>'


def page(settings: Settings) -> StaticFile:
    """The landing page, with the links this service's settings serve."""
    template = (STATIC / "landing.html").read_text()
    if LINKS_MARK not in template:
        raise RuntimeError(f"the landing page has lost its {LINKS_MARK!r}")
    body = template.replace(LINKS_MARK, "\n".join(_item(link, settings) for link in LINKS))
    return StaticFile.of(body.encode(), ".html", page_headers(body))


def routes(settings: Settings) -> list[HTTPRouteHandler]:
    landing = page(settings)
    icon = StaticFile.of((STATIC / "favicon.svg").read_bytes(), ".svg")

    @get("/", include_in_schema=False)
    async def index(request: Request[Any, Any, Any]) -> Response[bytes]:
        return landing.respond(request, "no-cache")

    # Browsers ask for it by this name on every page that names no icon, the demo's too.
    @get("/favicon.ico", include_in_schema=False)
    async def favicon(request: Request[Any, Any, Any]) -> Response[bytes]:
        return icon.respond(request, "public, max-age=86400")

    return [index, favicon]
