"""Errors are types that know their HTTP status; one handler renders them as problem+json."""

from __future__ import annotations


class WitrynaError(Exception):
    status_code = 500
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


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


class BufferFull(WitrynaError):
    status_code = 503
    title = "Event buffer full"


class ModelUnavailable(WitrynaError):
    status_code = 503
    title = "Model unavailable"


class ConfigError(WitrynaError):
    """A bad environment; raised at start, before anything serves."""
