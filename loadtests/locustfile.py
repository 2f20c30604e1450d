"""Storefront journeys against Witryna: who shops, how often, and the budgets a run must keep.

    locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8000

Each user class is one kind of shopper; its weight is its share of the crowd and its
``wait_time`` the think time between two pages. Every simulated user has its own visitor
id. Requests are named by endpoint so the statistics group by route, not by visitor.

The run fails (exit code 1) when the p99 of page views exceeds ``--p99-budget-ms``
(LOAD_P99_MS, 50 ms) or the share of failed requests exceeds
``--max-error-ratio`` (LOAD_MAX_ERROR_RATIO, 0.001).
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser, ResponseContextManager
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import RequestStats

# Locust puts the locustfile's folder on sys.path (for workers too), so siblings import flat.
from shop import Shop, load_shop

logger = logging.getLogger("witryna.loadtest")

PAGE_VIEWS = "/v1/page-views"
EVENTS = "/v1/events"
IDENTIFY = "/v1/identify"
CONSENT = "/v1/visitors/{id}/consent"
PROFILE = "/v1/visitors/{id}/profile"
EXPERIMENT = "/v1/experiments/{id}"
READYZ = "/readyz"
DAY_S = 86_400.0

# Requests and failures per user class, counted in this process (a worker counts its own).
REQUESTS: Counter[str] = Counter()
FAILURES: Counter[str] = Counter()


@events.init_command_line_parser.add_listener
def add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("Witryna budgets and inputs")
    group.add_argument(
        "--p99-budget-ms",
        type=float,
        default=50.0,
        env_var="LOAD_P99_MS",
        help="fail the run when the p99 of POST /v1/page-views exceeds this (ms)",
    )
    group.add_argument(
        "--max-error-ratio",
        type=float,
        default=0.001,
        env_var="LOAD_MAX_ERROR_RATIO",
        help="fail the run when failed requests / all requests exceeds this",
    )
    group.add_argument(
        "--manifest",
        default="",
        env_var="LOAD_MANIFEST",
        help="manifest.json of the served model (default: models/<name>/CURRENT)",
    )
    group.add_argument(
        "--experiment-id",
        default="cart-incentive",
        help="the experiment the marketer dashboard polls",
    )
    group.add_argument(
        "--site-key",
        default="",
        env_var="LOAD_SITE_KEY",
        help="the service's site key, sent by the shoppers as witryna.js would",
    )
    group.add_argument(
        "--secret-key",
        default="",
        env_var="LOAD_SECRET_KEY",
        help="a secret key, for the shop backend's calls (identify, profile, experiments)",
    )
    group.add_argument(
        "--journeys-json",
        default="",
        help="write requests and failures per user class to this JSON file",
    )


@events.request.add_listener
def count_by_class(context: dict[str, Any], exception: BaseException | None, **_: Any) -> None:
    journey = context.get("journey", "other")
    REQUESTS[journey] += 1
    if exception is not None:
        FAILURES[journey] += 1


# ---------------------------------------------------------------- request bodies


def page(kind: str, item: str | None = None, category: str | None = None,
         query: str | None = None) -> dict[str, str]:  # fmt: skip
    body = {"type": kind, "item_id": item, "category": category, "query": query}
    return {key: value for key, value in body.items() if value is not None}


def event(visitor: str, kind: str, channel: str, **fields: Any) -> dict[str, Any]:
    body = {"visitor_id": visitor, "type": kind, "channel": channel, **fields}
    return {key: value for key, value in body.items() if value is not None}


def new_id(prefix: str) -> str:
    """Unique per simulated user, and inside ^[A-Za-z0-9._:@-]+$ (ids live in a Redis tag)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


# ---------------------------------------------------------------- response checks


def check_decision(response: ResponseContextManager) -> None:
    """A page view is good when it is a 200 carrying a decision that is not degraded."""
    if response.status_code != 200:
        response.failure(f"status {response.status_code}: {response.text[:200]}")
        return
    body = json_of(response)
    if not body or "decision_id" not in body:
        response.failure("no decision_id in the answer")
    elif body.get("degraded"):
        # A degraded answer still renders the page, but it is not personalised: count it.
        response.failure(f"degraded answer: {body['slots']}")
    else:
        response.success()


def check_status(response: ResponseContextManager, status: int, /, **expected: Any) -> None:
    """The expected status, and each ``expected`` field of the JSON body equal to its value."""
    if response.status_code != status:
        response.failure(f"status {response.status_code}: {response.text[:200]}")
        return
    body = json_of(response)
    wrong = {k: body.get(k) for k, v in expected.items() if body is None or body.get(k) != v}
    if wrong:
        response.failure(f"expected {expected}, got {wrong}")
    else:
        response.success()


def json_of(response: ResponseContextManager) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


# ---------------------------------------------------------------- the shopper


class Shopper(FastHttpUser):
    """What every simulated shopper can do; subclasses are the journeys."""

    abstract = True
    prefix = "web"
    channel = "web"
    device = "desktop"

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.shop: Shop = load_shop(getattr(options, "manifest", "") or None)
        # The storefront's calls carry the site key; the shop backend's the secret key.
        self.site = {"Authorization": f"Bearer {getattr(options, 'site_key', '')}"}
        self.secret = {"Authorization": f"Bearer {getattr(options, 'secret_key', '')}"}
        self.rng = random.Random()
        self.visitor = new_id(self.prefix)
        self.session = new_id("s")
        # Seconds added to every timestamp: a negative shift replays a visit "yesterday".
        self.shift = 0.0

    def context(self) -> dict[str, Any]:
        # Lands on every request event, so that requests can be counted per user class.
        return {"journey": type(self).__name__}

    def new_visit(self, channel: str | None = None, days_ago: float = 0.0) -> None:
        self.session = new_id("s")
        self.channel = channel or type(self).channel
        self.shift = -days_ago * DAY_S

    def stamp(self) -> float | None:
        return time.time() + self.shift if self.shift else None

    def view(self, kind: str, item: str | None = None, category: str | None = None,
             query: str | None = None, visitor: str | None = None) -> None:  # fmt: skip
        body: dict[str, Any] = {
            "visitor_id": visitor or self.visitor,
            "session_id": self.session,
            "page": page(kind, item, category, query),
            "channel": self.channel,
            "device": self.device,
        }
        if (ts := self.stamp()) is not None:
            body["ts"] = ts
        with self.client.post(
            PAGE_VIEWS, json=body, headers=self.site, name=PAGE_VIEWS, catch_response=True
        ) as response:
            check_decision(response)

    def send(self, batch: list[dict[str, Any]]) -> None:
        with self.client.post(
            EVENTS, json={"events": batch}, headers=self.site, name=EVENTS, catch_response=True
        ) as response:
            check_status(response, 202, accepted=len(batch))

    def act(self, kind: str, item: str | None = None, **fields: Any) -> None:
        """One storefront action that is not a page (cart edits, purchases) as an event."""
        if item is not None:
            fields.setdefault("category", self.shop.category_of[item])
            fields.setdefault("price", self.shop.price(item))
        self.send([
            event(self.visitor, kind, self.channel, session_id=self.session, item_id=item,
                  ts=self.stamp(), **fields)
        ])  # fmt: skip

    def product(self, item: str) -> None:
        self.view("product", item=item, category=self.shop.category_of[item])

    def walk(self, category: str, steps: int) -> str:
        """Product views among related items of one category; returns the last item seen."""
        item = self.shop.item_in(self.rng, category)
        for _ in range(steps):
            self.product(item)
            self.wait()
            item = self.shop.neighbour(self.rng, item)
        return item

    def enter(self) -> str:
        """An entry page (home, category or search); returns the category in mind."""
        category = self.shop.category(self.rng)
        entry = self.rng.choice(["home", "category", "search"])
        if entry == "home":
            self.view("home")
        elif entry == "category":
            self.view("category", category=category)
        else:
            self.view("search", query=category)
        self.wait()
        return category


class Browser(Shopper):
    """Looks around: home, popular products, categories, searches; rarely anything else."""

    weight = 30
    wait_time = between(1, 4)
    device = "mobile"

    @task(3)
    def browse(self) -> None:
        self.new_visit()
        self.view("home")
        self.wait()
        for _ in range(self.rng.randint(1, 4)):
            self.product(self.shop.popular_item(self.rng))
            self.wait()
        self.view("category", category=self.shop.category(self.rng))

    @task(1)
    def search(self) -> None:
        self.new_visit()
        category = self.shop.category(self.rng)
        self.view("search", query=f"{category} {self.rng.choice(['deal', 'new', 'best'])}")
        self.wait()
        self.walk(category, self.rng.randint(1, 3))


class Researcher(Shopper):
    """Compares many products of one category, and comes back another day, often in the app."""

    weight = 15
    wait_time = between(2, 6)

    @task
    def research(self) -> None:
        # The first visit is replayed as yesterday's, so the return has a real gap of a day.
        self.new_visit("web", days_ago=1.0)
        category = self.enter()
        self.walk(category, self.rng.randint(5, 12))
        if self.rng.random() < 0.6:
            self.new_visit(self.rng.choice(["web", "app"]))
            self.view("category", category=category)
            self.wait()
            self.walk(category, self.rng.randint(2, 5))


class CartAbandoner(Shopper):
    """Views, carts, looks at the cart, takes things out again and leaves without buying."""

    weight = 20
    wait_time = between(1, 5)

    @task
    def abandon(self) -> None:
        self.new_visit()
        category = self.enter()
        item = self.walk(category, self.rng.randint(2, 5))
        self.act("add_to_cart", item)
        self.wait()
        self.view("cart")
        self.wait()
        if self.rng.random() < 0.3:
            self.view("help", query="shipping costs")
            self.wait()
        self.act("remove_from_cart", item)
        self.view("cart")


class Buyer(Shopper):
    """Knows what they want: a few views, into the cart, checkout, purchase."""

    weight = 15
    wait_time = between(1, 3)

    @task
    def buy(self) -> None:
        self.new_visit()
        category = self.enter()
        cart = [self.walk(category, self.rng.randint(1, 3))]
        if self.rng.random() < 0.3:
            cart.append(self.shop.popular_item(self.rng))
        for item in cart:
            self.act("add_to_cart", item)
        self.wait()
        self.view("cart")
        self.wait()
        self.view("checkout")
        self.wait()
        self.act("checkout")
        for item in cart:
            self.act("purchase", item)


class ReturningCustomer(Shopper):
    """Starts anonymous on the web, logs in (identify), then shops in the app as the customer."""

    weight = 10
    wait_time = between(1, 4)

    def on_start(self) -> None:
        super().on_start()
        self.customer = new_id("cust")
        self.app_device = new_id("app")
        self.consent(self.visitor)

    def consent(self, visitor: str) -> None:
        # The cookie banner's "accept": the first thing a returning customer's browser sends.
        with self.client.put(
            f"/v1/visitors/{visitor}/consent",
            json={"consent": True},
            headers=self.site,
            name=CONSENT,
            catch_response=True,
        ) as response:
            check_status(response, 200, consent=True)

    def identify(self, visitor: str) -> None:
        with self.client.post(
            IDENTIFY,
            json={"visitor_id": visitor, "customer_id": self.customer},
            headers=self.secret,
            name=IDENTIFY,
            catch_response=True,
        ) as response:
            check_status(response, 200, visitor_id=visitor, customer_id=self.customer)

    def profile(self) -> None:
        with self.client.get(
            f"/v1/visitors/{self.customer}/profile",
            headers=self.secret,
            name=PROFILE,
            catch_response=True,
        ) as response:
            check_status(response, 200, person_id=self.customer)

    @task
    def come_back(self) -> None:
        self.new_visit("web")
        self.view("home")
        self.wait()
        self.identify(self.visitor)
        self.wait()
        self.new_visit("app")
        self.identify(self.app_device)
        for _ in range(self.rng.randint(2, 5)):
            item = self.shop.popular_item(self.rng)
            self.view("product", item, self.shop.category_of[item], visitor=self.app_device)
            self.wait()
        if self.rng.random() < 0.2:
            self.profile()


class AppEvents(Shopper):
    """A mobile app that uploads what its user did in batches, not page by page."""

    weight = 5
    wait_time = between(2, 6)
    prefix = "app"
    channel = "app"

    @task
    def upload(self) -> None:
        self.new_visit("app")
        category = self.shop.category(self.rng)
        start = time.time() - 60
        batch = [event(self.visitor, "category_view", "app", session_id=self.session,
                       category=category, ts=start)]  # fmt: skip
        for step in range(self.rng.randint(3, 12)):
            item = self.shop.item_in(self.rng, category)
            kind = self.rng.choice(["product_view", "product_view", "click", "add_to_cart"])
            batch.append(event(self.visitor, kind, "app", session_id=self.session, item_id=item,
                               category=category, price=self.shop.price(item),
                               ts=start + 4 * (step + 1)))  # fmt: skip
        self.send(batch)


class StoreEvents(Shopper):
    """A shop floor: beacons seeing customers in aisles and a till uploading POS purchases."""

    weight = 5
    wait_time = between(2, 6)
    prefix = "store"
    channel = "store"

    @task(3)
    def beacon(self) -> None:
        # A beacon ping says which aisle (category) the customer stands in.
        category = self.shop.category(self.rng)
        self.send([event(self.visitor, "category_view", "store", category=category)])

    @task(1)
    def till(self) -> None:
        # A till batches the receipts of several customers; each is its own visitor.
        batch = []
        for _ in range(self.rng.randint(2, 8)):
            customer = new_id("pos")
            for item in self.rng.sample(self.shop.popular, self.rng.randint(1, 3)):
                batch.append(event(customer, "purchase", "pos", item_id=item,
                                   category=self.shop.category_of[item],
                                   price=self.shop.price(item)))  # fmt: skip
        self.send(batch)


class MarketerDashboard(Shopper):
    """One marketer's dashboard polling experiment results and service health."""

    fixed_count = 1
    wait_time = between(5, 10)

    @task
    def poll(self) -> None:
        experiment = self.environment.parsed_options.experiment_id
        with self.client.get(
            f"/v1/experiments/{experiment}",
            headers=self.secret,
            name=EXPERIMENT,
            catch_response=True,
        ) as response:
            check_status(response, 200)
        with self.client.get(READYZ, name=READYZ, catch_response=True) as response:
            check_status(response, 200, status="ready")


# ---------------------------------------------------------------- budgets


def breaches(stats: RequestStats, p99_budget_ms: float, max_error_ratio: float) -> list[str]:
    """Why the run fails; empty when it passes."""
    views = stats.get(PAGE_VIEWS, "POST")
    found = []
    if views.num_requests == 0:
        found.append("no page views were measured")
    else:
        p99 = views.get_response_time_percentile(0.99)
        if p99 > p99_budget_ms:
            found.append(f"page-view p99 {p99:.1f} ms > budget {p99_budget_ms:g} ms")
    ratio = stats.total.fail_ratio
    if ratio > max_error_ratio:
        found.append(f"error ratio {ratio:.4%} > budget {max_error_ratio:.4%}")
    return found


@events.quitting.add_listener
def enforce_budgets(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    write_journeys(getattr(options, "journeys_json", ""))
    # Workers see only their share; the master (or a local run) judges the whole.
    if isinstance(environment.runner, WorkerRunner) or options is None:
        return
    found = breaches(environment.stats, options.p99_budget_ms, options.max_error_ratio)
    for reason in found:
        logger.error("budget breached: %s", reason)
    if not found:
        logger.info("budgets kept: p99 <= %g ms, errors <= %.4f%%",
                    options.p99_budget_ms, 100 * options.max_error_ratio)  # fmt: skip
    crashed = environment.runner is not None and bool(environment.runner.exceptions)
    # Setting the code overrides Locust's "any failure is exit 1", which the error
    # budget replaces; a crashing locustfile must still fail the run.
    environment.process_exit_code = 1 if found or crashed else 0


def write_journeys(path: str) -> None:
    if not path:
        return
    summary = {
        journey: {"requests": REQUESTS[journey], "failures": FAILURES[journey]}
        for journey in sorted(REQUESTS)
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(summary, indent=2) + "\n")
