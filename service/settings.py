"""Settings: one frozen Struct, built once at start from ``WITRYNA_*`` variables."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, inspect

from service.errors import ConfigError, field_of

PREFIX = "WITRYNA_"
ORIGIN = re.compile(r"^(\*|https?://[^/\s]+)$")
KEY = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
SECRETS = frozenset({"secret_keys", "site_keys", "identify_secret"})
# What msgspec takes for a bool from a string, in any case.
BOOLS = "1, 0, true or false"
# The service's log lines, from `witryna serve` and from its workers alike.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

Port = Annotated[int, Meta(ge=0, le=65535)]
Positive = Annotated[int, Meta(ge=1)]
# Requests a second; 0 turns the limit off.
Rate = Annotated[int, Meta(ge=0)]


class Settings(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every knob of the service; the variable for ``field`` is ``WITRYNA_<FIELD>``."""

    host: str = "127.0.0.1"
    port: Port = 8000
    workers: Positive = 1
    # A client that has not sent a request's headers this long after it began is cut off,
    # so that slowly dripping connections cannot hold the server.
    header_read_timeout_ms: Annotated[int, Meta(ge=100, le=600_000)] = 5_000
    # Connections a worker holds at once, idle and slow ones included; more wait in the
    # kernel's queue. Far above what slow clients can open, so they cannot take them all.
    max_connections: Positive = 16_384
    # Length of the kernel's queue of connections not yet accepted (capped by somaxconn).
    backlog: Positive = 4096
    # Unset: the service starts a private redis-server child on a free loopback port.
    redis_url: str | None = None
    # True: redis_url names one node of a Redis Cluster, which the client learns the rest from.
    redis_cluster: bool = False
    redis_timeout_ms: Positive = 100
    # A page view's or event batch's Redis work ends after this long, answered or not: the
    # page is then answered degraded and the events wait in the journal. Well inside the
    # SDK's budget (sdk_timeout_ms), which must also hold the model run and the network.
    redis_deadline_ms: Annotated[int, Meta(ge=1, le=10_000)] = 50
    # The service's own state on disk, writable, or `witryna serve` refuses to start (relative:
    # to the working directory): the private Redis's files in `<data_dir>/redis/` and the
    # journal of events that wait for Redis in `<data_dir>/journal/`.
    data_dir: str = "data"
    # When the private Redis syncs its append-only file to disk: `everysec` may lose the last
    # second if the machine fails, `always` nothing (each write waits for the disk), `no`
    # leaves it to the kernel.
    redis_appendfsync: Literal["everysec", "always", "no"] = "everysec"
    models_dir: str = "models"
    model_name: str = "demo"
    # How often a worker looks for a newly published model; 0 turns hot swapping off.
    model_poll_s: Annotated[float, Meta(ge=0)] = 1.0
    history_len: Annotated[int, Meta(ge=1, le=1000)] = 50
    history_ttl_s: Positive = 30 * 24 * 3600
    max_body_bytes: Annotated[int, Meta(ge=1024)] = 256 * 1024
    # How far ahead of the server's clock an event's or page view's ts may be; later ones are
    # refused with 422: they would sit on top of the visitor's history and push real ones out.
    max_clock_skew_s: Annotated[float, Meta(ge=0)] = 300.0
    # A TOML slot policy; unset serves the default policy that ships with Witryna.
    policy_path: str | None = None
    ort_threads: Annotated[int, Meta(ge=0)] = 1
    # Micro-batching: at most this many requests share one model run...
    batch_max: Annotated[int, Meta(ge=1, le=4096)] = 32
    # ...and the first of them waits at most this long for company.
    batch_wait_us: Annotated[int, Meta(ge=0, le=100_000)] = 0
    # The same wait for a model that scores through its item index, whose search costs
    # much per call: at a million items it lifted page views by a quarter and cut p99.
    retrieval_batch_wait_us: Annotated[int, Meta(ge=0, le=100_000)] = 2_000
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # An artefact with an item index scores candidates from it from this many items, and
    # every item below (bench/results/model-retrieval-*.md measures where they cross).
    retrieval_min_items: Annotated[int, Meta(ge=0)] = 100_000
    # Model runs on a thread of their own ("on") or on the event loop's ("off"). "auto": a
    # thread for a GPU, whose runs overlap the loop's work; none on a CPU worker's one core.
    inference_thread: Literal["auto", "on", "off"] = "auto"
    # Workers keep catalogue items they have read and learn of changes this often; another
    # worker's stock change shows at most this late. 0: read the catalogue on every page view.
    catalog_sync_ms: Annotated[int, Meta(ge=0, le=60_000)] = 100
    catalog_cache_items: Positive = 200_000
    # Forget every cached item this often, for changes written to Redis behind the API.
    catalog_refresh_s: Annotated[float, Meta(gt=0)] = 60.0
    # Carousels also show in-stock items the served model has not seen, ranked through their
    # category; each worker rescans the catalogue for them this often, and whenever the model
    # changes. 0: they never show.
    newcomers_refresh_s: Annotated[float, Meta(ge=0)] = 60.0
    # Log entries (events and decisions for training) that wait in memory for Redis.
    buffer_events: Annotated[int, Meta(ge=0)] = 10_000
    # Events Redis did not take wait in the journal, in order, until it answers: at most
    # this many MiB per worker; beyond it event batches answer 503 with Retry-After.
    journal_max_mb: Positive = 64
    # "everysec": the journal reaches the disk within a second (a crashing process loses
    # nothing, a crashing machine up to that second); "always": before each answer.
    journal_fsync: Literal["everysec", "always"] = "everysec"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Shop origins allowed to call from the browser, comma-separated ("*" for any); empty: none.
    cors_origins: str = ""
    # Secret keys, comma-separated (several at once while one is rotated out): the shop's
    # servers and operators send one as "Authorization: Bearer <key>". None: only the public
    # routes and the storefront's answer.
    secret_keys: str = ""
    # Publishable site keys, comma-separated: witryna.js sends one as ?key=. Anyone may see
    # them; they allow the storefront routes only.
    site_keys: str = ""
    # Signs links made from the browser: the shop's backend signs (visitor id, customer id,
    # expiry) with it and witryna.js passes the token on. Unset: only secret keys link ids.
    identify_secret: str = ""
    # How long witryna.js waits for a decision before it leaves the shop's default content.
    sdk_timeout_ms: Annotated[int, Meta(ge=10, le=10_000)] = 150
    # Page views and event batches a second from one client address, all workers together;
    # beyond it the storefront routes answer 429. 0: no limit. Many shoppers can share an
    # address (a carrier's NAT, an office): this is far above what they send.
    rate_per_address: Rate = 100
    # Page views and event batches a second naming one visitor id; 0: no limit.
    rate_per_visitor: Rate = 20
    # Page views and event batches a second sent with one site key (the `key` query parameter
    # or the bearer token, as sent); 0: no limit.
    rate_per_site_key: Rate = 5000
    # Proxies in front of the service that each append the address they were called from to
    # X-Forwarded-For: the client address limited is the one this many entries from its end.
    # 0: the connection's own address, and the header is ignored, as anyone can send it.
    forwarded_hops: Annotated[int, Meta(ge=0, le=10)] = 0
    # Serves the demo store at /demo (`make run` turns it on).
    demo: bool = False
    # Serves the OpenAPI document at /schema/openapi.json and Swagger UI at /schema/swagger.
    openapi: bool = False
    # Serves POST /v1/floor (one Redis round trip, one model run): `witryna bench`'s yardstick.
    bench_routes: bool = False

    def __post_init__(self) -> None:
        for origin in self.cors_origin_list:
            if not ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin such as https://shop.example")
        for key in (*self.secret_key_list, *self.site_key_list):
            if not KEY.match(key):
                raise ValueError("a key is 16 to 128 letters, digits, '_' or '-'")
        if set(self.secret_key_list) & set(self.site_key_list):
            raise ValueError("a key cannot be both a secret key and a site key")

    @property
    def secret_key_list(self) -> list[str]:
        return _listed(self.secret_keys)

    @property
    def site_key_list(self) -> list[str]:
        return _listed(self.site_keys)

    @property
    def cors_origin_list(self) -> list[str]:
        return _listed(self.cors_origins)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        known = {f"{PREFIX}{name.upper()}": name for name in cls.__struct_fields__}
        values: dict[str, Any] = {}
        for variable, raw in env.items():
            if not variable.startswith(PREFIX):
                continue
            if variable not in known:
                raise ConfigError(_unknown(variable, list(known)))
            values[known[variable]] = raw
        for variable, name in known.items():
            if name not in values:
                continue
            try:
                msgspec.convert({name: values[name]}, cls, strict=False)
            except msgspec.ValidationError as exc:
                # Keys are secrets: a bad one is named, never echoed into a log.
                shown = "…" if name in SECRETS else repr(values[name])
                raise ConfigError(f"{variable}={shown}: {_complaint(name, exc)}") from exc
        try:
            return msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as exc:
            # Each variable passed alone: what fails is how two of them go together.
            raise ConfigError(f"WITRYNA_* settings together: {exc}") from exc


def _unknown(variable: str, known: list[str]) -> str:
    # Compared without the prefix, which every name shares and which would make any close.
    names = [name.removeprefix(PREFIX) for name in known]
    close = difflib.get_close_matches(variable.removeprefix(PREFIX), names, n=1)
    hint = f"did you mean {PREFIX}{close[0]}?" if close else "see docs/operations.md#settings"
    return f"{variable}: unknown setting; {hint}"


def _complaint(name: str, exc: msgspec.ValidationError) -> str:
    """msgspec's complaint about one setting, with the values it takes where they are few."""
    kind = next(f.type for f in _fields() if f.name == name)
    if isinstance(kind, inspect.LiteralType):
        return "expected one of " + ", ".join(str(value) for value in kind.values)
    if isinstance(kind, inspect.BoolType):
        return f"expected a boolean: {BOOLS} (any case)"
    # The variable is named already: msgspec's path to the field says it again.
    return field_of(str(exc))[1]


def _fields() -> tuple[inspect.Field, ...]:
    info = inspect.type_info(Settings)
    assert isinstance(info, inspect.StructType)
    return info.fields


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
