"""The marketer's slot policy: a TOML file of pages, slots, variants and experiments.

Eligibility is declared, not coded. The file is checked on load; an error names the line
and the field, and a file that fails at reload leaves the running policy in place.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct

from service.errors import WitrynaError, field_of
from service.schema import Channel, Device, PageType

Intent = Literal["buy", "hesitate", "browse", "leave"]
Segment = Literal[
    "returning",
    "cart_active",
    "help_seeking",
    "multichannel",
    "store_visitor",
    "researched_online",
    "online_to_store",
    "customer",
]
Kind = Literal["banner", "offer", "carousel", "help", "none"]
Share = Annotated[float, Meta(ge=0, le=1)]
Name = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")]
DEFAULT_PAGE: Literal["default"] = "default"
CART_PREFIXES = ("checkout_", "cart_")
T = TypeVar("T")


class Range(Struct, array_like=True, forbid_unknown_fields=True):
    """``[low, high]``, both inclusive."""

    low: float
    high: float

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high


class Variant(Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    kind: Kind = "banner"
    priority: int = 0
    intents: list[Intent] | None = None
    pages: list[PageType] | None = None
    # Lines in the visitor's cart now: ``[1, inf]`` is any cart with something in it.
    cart_items: Range | None = None
    buy_prob: Range | None = None
    uplift: Range | None = None
    channels: list[Channel] | None = None
    devices: list[Device] | None = None
    hours: Range | None = None
    weekdays: list[Annotated[int, Meta(ge=0, le=6)]] | None = None
    segments: list[Segment] | None = None
    # Offers only: what the incentive costs and the margin of the sale it may win.
    cost: Annotated[float, Meta(ge=0)] = 0.0
    margin: Annotated[float, Meta(ge=0)] = 0.0
    experiment: Name | None = None
    arms: list[Name] | None = None
    # Copy that speaks of the visitor's cart ("Your cart is saved") must not reach a visitor
    # without one; unset, a name starting checkout_ or cart_ declares it.
    needs_cart: bool | None = None
    # Carousels only: show items already in the cart ("complete your order").
    include_cart_items: bool = False

    def claims_cart(self) -> bool:
        if self.needs_cart is not None:
            return self.needs_cart
        return self.name.startswith(CART_PREFIXES)


class Slot(Struct, forbid_unknown_fields=True, kw_only=True):
    variants: Annotated[list[Variant], Meta(min_length=1)]


class Page(Struct, forbid_unknown_fields=True, kw_only=True):
    slots: list[Name]


class Experiment(Struct, forbid_unknown_fields=True, kw_only=True):
    id: Name
    arms: dict[Name, Share]
    control: Name = "control"


class Boost(Struct, forbid_unknown_fields=True, kw_only=True):
    tag: str
    factor: Annotated[float, Meta(gt=0)]


class Recommendations(Struct, forbid_unknown_fields=True, kw_only=True):
    count: Annotated[int, Meta(ge=1, le=100)] = 10
    per_category: Annotated[int, Meta(ge=1)] = 3
    exclude_items: list[str] = []
    exclude_tags: list[str] = []
    boosts: list[Boost] = []
    # What a carousel slot shows instead while the catalogue is empty or cannot be read, and
    # so no item's stock is known: a variant that needs no stock check ("none": the shop's own).
    catalog_fallback: Name = "none"


class Policy(Struct, forbid_unknown_fields=True, kw_only=True):
    version: str
    # Share of visitors who get default content everywhere: the baseline every claim is held to.
    holdout: Share = 0.0
    # Share of offer decisions made at random, so that uplift can be learned.
    exploration: Share = 0.0
    pages: dict[PageType | Literal["default"], Page]  # "default" serves page types not listed
    slots: dict[Name, Slot]
    experiments: list[Experiment] = []
    recommendations: Recommendations = msgspec.field(default_factory=Recommendations)

    def slots_for(self, page_type: PageType) -> list[str]:
        page = self.pages.get(page_type)
        if page is None:
            page = self.pages.get(DEFAULT_PAGE)
        return page.slots if page is not None else []

    def experiments_in(self, slot_names: Iterable[str]) -> set[str]:
        """Experiments that some variant of these slots takes part in."""
        return {
            v.experiment
            for name in slot_names
            for v in (self.slots[name].variants if name in self.slots else [])
            if v.experiment is not None
        }

    def experiment(self, experiment_id: str) -> Experiment | None:
        return next((e for e in self.experiments if e.id == experiment_id), None)


class PolicyError(WitrynaError):
    status_code = 500
    title = "Invalid policy"


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"]+)\s*=")
_LAST = re.compile(r"(\[\d+\]|\.[^.\[]+|^[^.\[]+)$")
_TOML_AT = re.compile(r" \(at line (\d+), column \d+\)$")


def parse(text: str, source: str) -> Policy:
    """Decode and check a policy; errors read ``source:line: field: problem``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(source, str(exc)) from None
    # msgspec names a dict entry `[...]` in its paths; converting the named entries one by
    # one first keeps their names in the error.
    for section, kind in (("pages", Page), ("slots", Slot)):
        entries = data.get(section)
        for key, value in entries.items() if isinstance(entries, dict) else ():
            _convert(value, kind, text, source, f"{section}.{key}")
    policy = _convert(data, Policy, text, source, "")
    for path, problem in _problems(policy):
        raise _error(text, source, path, problem)
    return policy


def _syntax_error(source: str, message: str) -> PolicyError:
    # tomllib (before Python 3.14) gives the line only inside its message.
    at = _TOML_AT.search(message)
    where = f"{source}:{at[1]}" if at else source
    return PolicyError(f"{where}: not valid TOML: {_TOML_AT.sub('', message)}")


def _convert(value: object, kind: type[T], text: str, source: str, at: str) -> T:
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        inner, problem = field_of(str(exc))
        path = f"{at}.{inner}".strip(".").replace(".[", "[")
        raise _error(text, source, path, problem) from None


def load(path: str | None) -> Policy:
    """The policy at ``path``, or the one that ships with Witryna."""
    if path is None:
        text = resources.files("service.decision").joinpath("default_policy.toml").read_text()
        return parse(text, "default_policy.toml")
    try:
        return parse(Path(path).read_text(), path)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from None


def _problems(policy: Policy) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for page_type, page in policy.pages.items():
        for i, name in enumerate(page.slots):
            if name not in policy.slots:
                found.append((f"pages.{page_type}.slots[{i}]", f"no slot named {name!r}"))
    for i, experiment in enumerate(policy.experiments):
        if abs(sum(experiment.arms.values()) - 1.0) > 1e-6:
            found.append((f"experiments[{i}].arms", "shares must add up to 1"))
        if experiment.control not in experiment.arms:
            found.append((f"experiments[{i}].control", f"{experiment.control!r} is not an arm"))
    for slot_name, slot in policy.slots.items():
        for i, variant in enumerate(slot.variants):
            found.extend(_variant_problems(policy, f"slots.{slot_name}.variants[{i}]", variant))
    found.extend(_fallback_problems(policy))
    return found


def _fallback_problems(policy: Policy) -> list[tuple[str, str]]:
    """The catalogue's fallback must be content that needs no stock check: not a carousel, nor
    ``popular``, the name default content gives its carousel of popular in-stock items."""
    fallback = policy.recommendations.catalog_fallback
    kinds = {v.kind for slot in policy.slots.values() for v in slot.variants if v.name == fallback}
    if "carousel" in kinds or fallback == "popular":
        return [("recommendations.catalog_fallback", f"{fallback!r} is a carousel variant")]
    return []


def _variant_problems(policy: Policy, at: str, variant: Variant) -> list[tuple[str, str]]:
    found = []
    for field in ("buy_prob", "uplift", "hours"):
        span = getattr(variant, field)
        if span is not None and span.low > span.high:
            found.append((f"{at}.{field}", "low is above high"))
    if variant.experiment is not None:
        experiment = policy.experiment(variant.experiment)
        if experiment is None:
            found.append((f"{at}.experiment", f"no experiment {variant.experiment!r}"))
        elif any(arm not in experiment.arms for arm in variant.arms or []):
            found.append((f"{at}.arms", f"not all arms are arms of {variant.experiment!r}"))
    elif variant.arms is not None:
        found.append((f"{at}.arms", "arms need an experiment"))
    return found + _cart_problems(at, variant)


def _cart_problems(at: str, variant: Variant) -> list[tuple[str, str]]:
    found = []
    guarded = variant.cart_items is not None and variant.cart_items.low >= 1
    if variant.claims_cart() and not guarded:
        why = "needs_cart = true" if variant.needs_cart else "named checkout_* or cart_*"
        found.append((
            f"{at}.cart_items",
            f"{variant.name!r} speaks of the cart ({why}): it needs cart_items = [1, inf], "
            "so that a visitor with an empty cart never sees it",
        ))  # fmt: skip
    if variant.include_cart_items and variant.kind != "carousel":
        found.append((f"{at}.include_cart_items", "only a carousel shows items"))
    return found


def _error(text: str, source: str, path: str, problem: str) -> PolicyError:
    line = _line_of(text, path)
    where = f"{source}:{line}" if line else source
    return PolicyError(f"{where}: {path or 'policy'}: {problem}")


def _line_of(text: str, path: str) -> int | None:
    """The line that defines ``path`` (or its nearest parent) in the TOML text."""
    lines: dict[str, int] = {}
    table = ""
    counts: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        header, key = _HEADER.match(raw), _KEY.match(raw)
        if header:
            table = header[2].replace('"', "")
            if header[1] == "[[":
                counts[table] = counts.get(table, -1) + 1
                table = f"{table}[{counts[table]}]"
            lines.setdefault(table, number)
        elif key:
            lines.setdefault(f"{table}.{key[1].strip(chr(34))}".lstrip("."), number)
    probe = path
    while probe:
        if probe in lines:
            return lines[probe]
        parent = _LAST.sub("", probe)
        probe = parent if parent != probe else ""
    return None
