"""The OpenAPI document at /schema/openapi.json and Swagger UI at /schema/swagger, with the
Swagger files served by the service itself (pinned in static/swagger/, see its VERSION), so
that the page works offline and loads nothing from another origin."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components

from service.http.openapi import SECURITY_SCHEMES
from service.http.storefront import STATIC, StaticFile

PATH = "/schema"
ASSETS = f"{PATH}/assets"
FOLDER = STATIC / "swagger"
# Once the bundle has loaded: reads the document by URL, no inline script for the CSP to allow.
START = b"""SwaggerUIBundle({
  url: "/schema/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
});
"""


class OfflineSwagger(SwaggerRenderPlugin):
    def __init__(self) -> None:
        super().__init__(
            js_url=f"{ASSETS}/swagger-ui-bundle.js",
            css_url=f"{ASSETS}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            favicon="",
        )
        self.assets = {
            name: StaticFile.of((FOLDER / name).read_bytes(), "." + name.rsplit(".", 1)[1])
            for name in ("swagger-ui-bundle.js", "swagger-ui.css")
        }
        self.assets["start.js"] = StaticFile.of(START, ".js")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = openapi_schema["info"]["title"]
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title>"
            f'<link rel="stylesheet" href="{self.css_url}">'
            f'<script src="{self.js_url}" defer></script>'
            f'<script src="{ASSETS}/start.js" defer></script>'
            '</head><body><div id="swagger-ui"></div></body></html>'
        ).encode()

    def receive_router(self, router: Router) -> None:
        assets = self.assets

        # The files change only with the pinned version, which is in their ETag.
        @get("/assets/{name:str}", include_in_schema=False)
        async def asset(name: str, request: Request[Any, Any, Any]) -> Response[bytes]:
            found = assets.get(name)
            if found is None:
                raise NotFoundException(f"Swagger has no file {name!r}")
            return found.respond(request, "public, max-age=3600")

        router.register(asset)


def config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Witryna",
        version="0.1.0",
        description=(
            "Real-time website personalisation: a page view in, a decision out. Errors are "
            "application/problem+json; which key each operation takes is under Authorize."
        ),
        path=PATH,
        # Each operation's description is its handler's docstring, written for callers.
        use_handler_docstrings=True,
        components=Components(security_schemes=dict(SECURITY_SCHEMES)),
        render_plugins=[OfflineSwagger(), JsonRenderPlugin()],
    )
