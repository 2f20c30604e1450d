"""The storefront's files: the SDK at /sdk/witryna.js and the demo store at /demo.

They are read and compressed once, when the app is built, and answered from memory with an
ETag, so a shop's every page load costs the service no disk and little CPU.
"""

from __future__ import annotations

import gzip
import hashlib
import html
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from msgspec import Struct

from service.http.headers import page_headers
from service.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"
SDK_TIMEOUT = "timeoutMs: 150,"
MEDIA_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


class StaticFile(Struct, frozen=True):
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str
    headers: dict[str, str]

    @classmethod
    def of(cls, body: bytes, suffix: str, headers: dict[str, str] | None = None) -> StaticFile:
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        zipped = gzip.compress(body, 9, mtime=0)
        return cls(body, zipped, MEDIA_TYPES[suffix], etag, headers or {})

    def respond(self, request: Request[Any, Any, Any], cache: str) -> Response[bytes]:
        headers = {"ETag": self.etag, "Cache-Control": cache, "Vary": "Accept-Encoding"}
        headers.update(self.headers)
        if request.headers.get("if-none-match") == self.etag:
            return Response(b"", status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type=self.media_type, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def sdk_file(settings: Settings) -> StaticFile:
    """witryna.js with the service's timeout written in as its default."""
    source = (STATIC / "witryna.js").read_text()
    if SDK_TIMEOUT not in source:
        raise RuntimeError(f"witryna.js has lost its {SDK_TIMEOUT!r} default")
    served = source.replace(SDK_TIMEOUT, f"timeoutMs: {settings.sdk_timeout_ms},", 1)
    return StaticFile.of(served.encode(), ".js")


SITE_KEY_META = '<meta name="witryna-site-key" content="">'


def demo_files(settings: Settings) -> dict[str, StaticFile]:
    """The demo store's files; its page carries the first site key, which is publishable."""
    files = {}
    key = html.escape(next(iter(settings.site_key_list), ""))
    for path in sorted((STATIC / "demo").iterdir()):
        if path.suffix not in MEDIA_TYPES:
            continue
        body = path.read_bytes()
        if path.name == "index.html":
            if SITE_KEY_META.encode() not in body:
                raise RuntimeError(f"the demo page has lost its {SITE_KEY_META!r}")
            filled = SITE_KEY_META.replace('content=""', f'content="{key}"')
            body = body.replace(SITE_KEY_META.encode(), filled.encode())
        headers = None
        if path.suffix == ".html":
            # ?endpoint= points the store at any service, so its scripts may call any origin;
            # the cards it draws carry their colours in style attributes.
            headers = page_headers(body.decode(), connect="*", style_attributes=True)
        files[path.name] = StaticFile.of(body, path.suffix, headers)
    return files


def routes(settings: Settings) -> list[HTTPRouteHandler]:
    sdk = sdk_file(settings)

    # Short: a fixed SDK reaches every shop within minutes; the ETag makes rechecks cheap.
    @get("/sdk/witryna.js", tags=["storefront"], include_in_schema=False)
    async def sdk_route(request: Request[Any, Any, Any]) -> Response[bytes]:
        return sdk.respond(request, "public, max-age=300")

    if not settings.demo:
        return [sdk_route]
    demo = demo_files(settings)

    # Litestar treats /demo and /demo/ alike; the page names its files by absolute path.
    @get("/demo", include_in_schema=False)
    async def demo_index(request: Request[Any, Any, Any]) -> Response[bytes]:
        return demo["index.html"].respond(request, "no-cache")

    @get("/demo/{name:str}", include_in_schema=False)
    async def demo_file(name: str, request: Request[Any, Any, Any]) -> Response[bytes]:
        found = demo.get(name)
        if found is None:
            raise NotFoundException(f"the demo store has no file {name!r}")
        return found.respond(request, "no-cache")

    return [sdk_route, demo_index, demo_file]
