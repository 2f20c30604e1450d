"""HEAD on every GET route: the GET's status and headers, without its body (RFC 9110, 9.3.2).

Litestar routes HEAD only to handlers that name it, and answers 405 elsewhere; monitors,
link checkers and `curl -I` send HEAD to probes and pages. Wrapping the whole app, rather
than naming HEAD on each handler, covers every GET route, Litestar's /schema ones included,
and keeps HEAD out of the OpenAPI document; the headers, Content-Length among them, are the
GET's own.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """An ASGI app that serves HEAD as ``app`` serves GET, and sends no body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        as_get = scope.copy()
        as_get["method"] = "GET"
        await self.app(as_get, receive, headers_only)
