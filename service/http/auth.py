"""Keys: the guard that holds every route to its owner (service/http/owners.py).

Secret keys come as ``Authorization: Bearer <key>`` (or as the password of Basic auth, so
that a browser can open the dashboard); the site key as the query parameter ``key``, which
keeps the SDK's ``text/plain`` posts free of a preflight, or as that bearer header. A secret
key may do everything a site key may. Keys are compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from service.errors import MissingKey, WrongKey
from service.http.owners import Owner, owner_of
from service.settings import Settings

log = logging.getLogger(__name__)

# Where the guard leaves, for the handler, the caller's kind (None, SITE or SECRET) and the
# key as sent, so that nothing reads the credentials twice.
CALLER = "witryna_caller"
SENT = "witryna_key"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="witryna", Basic realm="witryna"'}


class Keys:
    def __init__(self, secret: list[str], site: list[str]) -> None:
        self._keys = [(k.encode(), Owner.SECRET) for k in secret]
        self._keys += [(k.encode(), Owner.SITE) for k in site]

    @classmethod
    def of(cls, settings: Settings) -> Keys:
        keys = cls(settings.secret_key_list, settings.site_key_list)
        if not settings.secret_key_list:
            log.warning("no WITRYNA_SECRET_KEYS: every route that needs one refuses every caller")
        return keys

    def kind_of(self, presented: str) -> Owner | None:
        """The kind of ``presented``, or None. Every key is compared, so the time taken does not
        say which one matched or how far."""
        given, found = presented.encode(), None
        for key, kind in self._keys:
            if hmac.compare_digest(given, key) and found is None:
                found = kind
        return found


def presented(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if header is None:
        return connection.query_params.get("key")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


class Guard:
    """A Litestar guard for every route: refuses a caller without the key its route needs."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys

    # Async, though it awaits nothing: Litestar runs a sync guard in a thread pool, a thread
    # hop on every request.
    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
    ) -> None:
        method = str(connection.scope.get("method", "GET"))
        owner = owner_of(method, connection.scope["path_template"])
        key = presented(connection)
        kind = None if key is None else self.keys.kind_of(key)
        state = connection.scope.setdefault("state", {})
        state[CALLER], state[SENT] = kind, key
        if owner is Owner.PUBLIC:
            return
        if owner is None:
            raise WrongKey("this route has no owner in service/http/owners.py: no one may call it")
        if kind is None:
            raise MissingKey(_needs(owner, given=key is not None), headers=CHALLENGE)
        if owner is Owner.SECRET and kind is Owner.SITE:
            raise WrongKey("a site key cannot call this route: it needs a secret key")


def _needs(owner: Owner, given: bool) -> str:
    what = "is not a key of this service" if given else "is missing"
    if owner is Owner.SECRET:
        return f"the key {what}: this route needs a secret key (Authorization: Bearer <key>)"
    return (
        f"the key {what}: this route needs the site key (?key=<site key>) "
        "or a secret key (Authorization: Bearer <key>)"
    )


def link_signature(secret: str, visitor_id: str, customer_id: str, expires: int) -> str:
    """What the shop's backend computes to let a browser link its visitor to a customer."""
    message = f"{visitor_id}\n{customer_id}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_link_token(
    secret: str, visitor_id: str, customer_id: str, token: str | None, expires: int | None
) -> None:
    """Refuses a browser's link unless the shop's backend signed it and it has not expired."""
    if not secret:
        raise WrongKey("linking ids needs a secret key: this service takes no signed links")
    if token is None or expires is None:
        raise WrongKey("linking ids from a browser needs the shop's token and its expiry")
    if expires < time.time():
        raise WrongKey("the link token has expired")
    expected = link_signature(secret, visitor_id, customer_id, expires)
    if not hmac.compare_digest(expected, token):
        raise WrongKey("the link token is not the shop's signature of this link")


def caller(connection: ASGIConnection[Any, Any, Any, Any]) -> Owner | None:
    """The kind of key this request came with, as the guard found it."""
    found: Owner | None = connection.scope.get("state", {}).get(CALLER)
    return found


def sent_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The key this request came with, as sent, as the guard read it."""
    found: str | None = connection.scope.get("state", {}).get(SENT)
    return found
