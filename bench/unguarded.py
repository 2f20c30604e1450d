"""`witryna serve` with the app's key guard taken off: `witryna bench --auth-overhead`'s
yardstick, never a way to serve.

A service started without keys refuses every page view (401), so it cannot be the side
"without auth" of a comparison. This is the same build, the same settings and the same
server; only the guard (service/http/auth.py) is gone, so no key is read or compared and
none is counted by the per-key rate limit.

    python -m bench.unguarded serve --port 8001
"""

from __future__ import annotations

import sys

from litestar import Litestar
from litestar.routes import HTTPRoute

from service.app import create_app
from service.cli import main as cli
from service.http.auth import Guard
from service.settings import Settings

FACTORY = "bench.unguarded:app_from_env"


def app_from_env() -> Litestar:
    app = create_app(Settings.from_env())
    dropped = 0
    for route in app.routes:
        handlers = route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler]
        for handler in handlers:
            # Litestar resolves a handler's guards once, when the app is made, and keeps the
            # list it calls on every request: the guard leaves that list.
            guards = handler.resolve_guards()
            kept = [guard for guard in guards if not isinstance(guard, Guard)]
            dropped += len(guards) - len(kept)
            guards[:] = kept
    if not dropped:
        # A Litestar that keeps its guards elsewhere would measure the guard on both sides.
        raise RuntimeError("found no key guard to take off: the comparison would be void")
    return app


def main(argv: list[str]) -> int:
    # Everything `witryna serve` does, on this factory instead of the service's.
    cli.APP_FACTORY = FACTORY
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
