"""Errors are types that know their HTTP status; one handler renders them as problem+json."""

from __future__ import annotations

import re

_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
# For these, msgspec's path is the enclosing object; the field is named in the message.
_NAMED = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]+)`")


class WitrynaError(Exception):
    status_code = 500
    title = "Internal error"

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class MalformedBody(WitrynaError):
    status_code = 400
    title = "Malformed body"


class InvalidBody(WitrynaError):
    """A body that parses but breaks the schema; ``field`` is its dotted path."""

    status_code = 422
    title = "Invalid field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class MissingKey(WitrynaError):
    """No credential, or one that is none of this service's keys."""

    status_code = 401
    title = "Key required"


class WrongKey(WitrynaError):
    """A real key of the wrong kind: a site key where a secret key is needed, or a site key
    asking about someone else."""

    status_code = 403
    title = "Key not allowed here"


class UnsupportedMediaType(WitrynaError):
    status_code = 415
    title = "Unsupported media type"


class BufferFull(WitrynaError):
    """Redis is failing and the journal has no room: the sender keeps the events (witryna.js
    does) and sends them again later."""

    status_code = 503
    title = "Event journal full"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


class LinkBusy(WitrynaError):
    """An id's events changed under every try to link it: it is being written to right now."""

    status_code = 503
    title = "Link busy"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class TooManyRequests(WitrynaError):
    """A limited subject has spent its requests for this second; ``retry_after_s`` says when
    the next second begins, rounded up as Retry-After needs whole seconds."""

    status_code = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class ModelUnavailable(WitrynaError):
    status_code = 503
    title = "Model unavailable"


class ConfigError(WitrynaError):
    """A bad environment; raised at start, before anything serves."""


def field_of(message: str) -> tuple[str, str]:
    """Split msgspec's message into the offending field's dotted path and the complaint."""
    at = _AT.search(message)
    path = at["path"] if at else ""
    named = _NAMED.search(message)
    if named:
        path = f"{path}.{named['name']}" if path else named["name"]
    return path, _AT.sub("", message)
