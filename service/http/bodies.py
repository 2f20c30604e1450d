"""Strict decoding of request bodies: a wrong type is an error, never a silent conversion."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from service.errors import InvalidBody, MalformedBody, field_of
from service.schema import EventBatch, PageView, VisitorId

T = TypeVar("T")

_page_view = msgspec.json.Decoder(PageView)
_event_batch = msgspec.json.Decoder(EventBatch)


def decode(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        path, problem = field_of(str(exc))
        raise InvalidBody(path or "body", problem) from None
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from None


def page_view(body: bytes) -> PageView:
    return decode(_page_view, body)


def event_batch(body: bytes) -> EventBatch:
    return decode(_event_batch, body)


def visitor_id(value: str) -> str:
    """A visitor id from the path, held to the same pattern as in bodies."""
    try:
        return msgspec.convert(value, VisitorId)
    except msgspec.ValidationError as exc:
        raise InvalidBody("visitor_id", str(exc)) from None
