"""The app factory: the only place where the parts are wired together."""

from __future__ import annotations

import logging

from litestar import Litestar
from litestar.config.cors import CORSConfig

from service.http import demo_shop, headers, problems, swagger
from service.http.auth import Guard, Keys
from service.http.head import HeadAsGet
from service.http.routes import routes
from service.services import Services
from service.settings import LOG_FORMAT, Settings


def create_app(settings: Settings) -> Litestar:
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    services = Services(settings)
    origins = settings.cors_origin_list
    # text/plain bodies keep the SDK's calls "simple": no preflight unless a shop adds headers.
    cors = CORSConfig(allow_origins=origins, allow_headers=["content-type"], max_age=600)
    return Litestar(
        route_handlers=routes(services),
        guards=[Guard(Keys.of(settings))],
        middleware=[services.metrics.timing],
        cors_config=cors if origins else None,
        on_startup=[services.start, *demo_shop.on_startup(services)],
        on_shutdown=[services.stop],
        exception_handlers={Exception: problems.handle},
        request_max_body_size=settings.max_body_bytes,
        openapi_config=swagger.config() if settings.openapi else None,
        after_request=headers.secure_html,
        debug=False,
    )


def app_from_env() -> HeadAsGet:
    """The server's factory target: settings are read here, once per worker, at start."""
    return HeadAsGet(create_app(Settings.from_env()))
