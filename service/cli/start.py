"""What `witryna serve` checks before Granian starts, and what it says once the service answers."""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
import urllib.error
import urllib.request

from service.errors import ConfigError
from service.settings import Settings

log = logging.getLogger(__name__)
POLL_S = 0.2
WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def refuse_taken_port(host: str, port: int) -> None:
    """Granian binds with SO_REUSEPORT, so a second service on a port in use would share its
    connections with the first, each with a Redis of its own. A socket bound without
    SO_REUSEPORT is refused while anyone listens there."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(f"cannot bind to {host!r}: {exc.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        # A port whose last connections linger in TIME_WAIT is free to listen on.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is in use by another process") from None
            raise ConfigError(f"cannot listen on {host} port {port}: {exc.strerror}") from None


def base_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches a service bound to ``host``."""
    shown = WILDCARDS.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def links(settings: Settings, url: str) -> list[tuple[str, str]]:
    """The pages to open, each with what it is; those turned off are left out."""
    found = [(f"{url}/", "the landing page")]
    if settings.demo:
        found.append((f"{url}/demo", "the demo store"))
    found.append((f"{url}/dashboard", "the dashboard (password: a secret key)"))
    if settings.openapi:
        found.append((f"{url}/schema/swagger", "the API docs"))
    found.append((f"{url}/healthz", "health"))
    return found


def announce_when_ready(settings: Settings, host: str, port: int) -> None:
    """Log the links once /readyz answers 200, from a thread: Granian's loop holds the main
    one. Every worker builds its app, so only the parent can say it once."""
    if port == 0:
        return  # the kernel chooses the port, and only Granian knows which
    url = base_url(host, port)
    threading.Thread(target=_announce, args=(url, links(settings, url)), daemon=True).start()


def _announce(url: str, pages: list[tuple[str, str]]) -> None:
    while not _ready(url):
        time.sleep(POLL_S)
    width = max(len(link) for link, _ in pages)
    lines = "".join(f"\n  {link:<{width}}  {what}" for link, what in pages)
    log.info("ready at %s%s", url, lines)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1.0) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False
