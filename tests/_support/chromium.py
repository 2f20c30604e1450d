"""Debian's Chromium, headless, driven through Selenium: the browser a shopper would use.

`make test` installs /usr/bin/chromium and /usr/bin/chromedriver; Selenium is pointed at
both, so nothing is downloaded. Every page gets an error trap before its own scripts run,
and the DevTools log records each request the page makes, beacons included.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service as DriverService

from service.http.storefront import STATIC
from service.storage.server import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
# Script errors and CSP refusals; a failed request is an ``error`` event too, but no ErrorEvent.
ERROR_TRAP = """
window.__errors = [];
window.addEventListener("error", function (e) {
  if (e instanceof ErrorEvent) window.__errors.push(String(e.message));
}, true);
window.addEventListener("unhandledrejection", function (e) {
  window.__errors.push("unhandled rejection: " + String(e.reason));
});
// What the page's Content-Security-Policy refused counts too: the pages must not need it.
document.addEventListener("securitypolicyviolation", function (e) {
  window.__errors.push("CSP refused " + e.blockedURI + " (" + e.effectiveDirective + ")");
});
"""


class Browser:
    def __init__(self, name: str) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(
            service=DriverService(executable_path=CHROMEDRIVER), options=options
        )
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ERROR_TRAP})
        self.name = name
        self.errors: list[str] = []
        self.console: list[str] = []
        self.requested: list[str] = []

    def open(self, url: str) -> None:
        self._collect()
        self.driver.get(url)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, script: str, timeout_s: float = 10.0) -> Any:
        """Poll a JS expression until it is truthy; returns its value (falsy on timeout)."""
        deadline = time.monotonic() + timeout_s
        value = self.js(f"return {script};")
        while not value and time.monotonic() < deadline:
            time.sleep(0.02)
            value = self.js(f"return {script};")
        return value

    def decided(self) -> str:
        """Wait until witryna.js has personalised the page or given up; returns which."""
        status = self.wait("document.documentElement.getAttribute('data-witryna')")
        assert status, "witryna.js neither decided nor gave up"
        return str(status)

    def script_errors(self) -> list[str]:
        self._collect()
        return list(self.errors)

    def console_errors(self) -> list[str]:
        """Every error the console showed, failed requests (a missing icon) included."""
        self._collect()
        return list(self.console)

    def requests(self) -> list[str]:
        self._collect()
        return list(self.requested)

    def screenshot(self, label: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}-{label}.png"
        self.driver.save_screenshot(str(path))
        return path

    def _collect(self) -> None:
        """Drain the logs of the page being left, before it is gone."""
        with contextlib.suppress(WebDriverException):  # no page yet
            self.errors += self.js("return window.__errors || [];")
        for entry in self.driver.get_log("browser"):
            if entry["level"] != "SEVERE":
                continue
            self.console.append(entry["message"])
            if entry.get("source") == "javascript":
                self.errors.append(entry["message"])
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requested.append(message["params"]["request"]["url"])

    @contextmanager
    def sending(self, headers: dict[str, str]) -> Iterator[None]:
        """Every request of the block carries ``headers``, as a signed-in operator's would."""
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
        try:
            yield
        finally:
            self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})

    def close(self) -> None:
        self.driver.quit()


class ShopHost:
    """A shop's own static web server: the demo pages and a self-hosted copy of the SDK,
    on another origin than the service, so that they outlive a stopped service."""

    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        handler = partial(_ShopFiles, directory=str(STATIC))
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ShopHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _ShopFiles(SimpleHTTPRequestHandler):
    def translate_path(self, path: str) -> str:
        route = path.split("?", 1)[0]
        if route in ("/demo", "/demo/"):
            path = "/demo/index.html"
        elif route == "/sdk/witryna.js":
            path = "/witryna.js"
        return super().translate_path(path)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Unanswering:
    """A port that accepts connections and never answers: a service that hangs."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)

    def __enter__(self) -> Unanswering:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        for connection in self.held:
            connection.close()


def browser_for(name: str) -> Iterator[Browser]:
    browser = Browser(name)
    try:
        yield browser
    finally:
        browser.close()
