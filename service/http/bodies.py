"""Strict reading of request bodies: JSON only, a wrong type is an error, never a silent
conversion, and no timestamp runs ahead of the server's clock."""

from __future__ import annotations

import time
from typing import Any, TypeVar

import msgspec
from litestar import Request

from service.errors import InvalidBody, MalformedBody, UnsupportedMediaType, field_of
from service.schema import EventBatch, PageView, VisitorId

T = TypeVar("T")

# witryna.js declares its JSON as text/plain, which spares the browser a CORS preflight.
MEDIA_TYPES = ("application/json", "text/plain")

_page_view = msgspec.json.Decoder(PageView)
_event_batch = msgspec.json.Decoder(EventBatch)


async def read(request: Request[Any, Any, Any]) -> bytes:
    """The body, unless it is declared as something other than JSON (no declaration is JSON)."""
    declared = request.headers.get("content-type", "")
    media = declared.partition(";")[0].strip().lower()
    if media and media not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {media} is not accepted: send JSON as {' or '.join(MEDIA_TYPES)}"
        )
    return await request.body()


def decode(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        path, problem = field_of(str(exc))
        raise InvalidBody(path or "body", problem) from None
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from None


def page_view(body: bytes, skew_s: float) -> PageView:
    view = decode(_page_view, body)
    _not_ahead(view.ts, "ts", time.time(), skew_s)
    return view


def event_batch(body: bytes, skew_s: float) -> EventBatch:
    batch = decode(_event_batch, body)
    now = time.time()
    for n, event in enumerate(batch.events):
        _not_ahead(event.ts, f"events[{n}].ts", now, skew_s)
    return batch


def _not_ahead(ts: float | None, field: str, now: float, skew_s: float) -> None:
    """A history keeps a visitor's latest events by ts: events dated ahead would stay on top
    and push out every real one that came after them, until the clock caught up."""
    if ts is not None and ts > now + skew_s:
        raise InvalidBody(
            field, f"Expected a time at most {skew_s:g} s after the server's {now:.0f}, got {ts}"
        )


def visitor_id(value: str) -> str:
    """A visitor id from the path, held to the same pattern as in bodies."""
    try:
        return msgspec.convert(value, VisitorId)
    except msgspec.ValidationError as exc:
        raise InvalidBody("visitor_id", str(exc)) from None
