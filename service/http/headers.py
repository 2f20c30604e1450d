"""Security headers of the HTML pages the service serves (demo store, dashboard, Swagger).

Each page's Content-Security-Policy allows its own origin and, by hash, exactly the inline
scripts and styles it was shipped with: an injected script runs nowhere.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from litestar import Response

# No page is framed (clickjacking), and no URL with a visitor's query leaves for other sites.
BASE = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}
INLINE = {
    "script": re.compile(r"<script>(.*?)</script>", re.DOTALL),
    "style": re.compile(r"<style>(.*?)</style>", re.DOTALL),
}
# For a page that sets none of its own, such as Swagger's: its scripts are all files, and it
# styles elements through attributes.
DEFAULT_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _hashes(html: str, tag: str) -> str:
    digests = (hashlib.sha256(body.encode()).digest() for body in INLINE[tag].findall(html))
    return "".join(f" 'sha256-{base64.b64encode(d).decode()}'" for d in digests)


def page_headers(
    html: str, *, connect: str = "'self'", style_attributes: bool = False
) -> dict[str, str]:
    """The headers of one page: ``connect`` is where its scripts may send requests;
    ``style_attributes`` lets markup it builds carry ``style=""``."""
    styles = "'self'" + (" 'unsafe-inline'" if style_attributes else _hashes(html, "style"))
    policy = (
        f"default-src 'self'; script-src 'self'{_hashes(html, 'script')}; style-src {styles}; "
        f"img-src 'self' data:; connect-src {connect}; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    return {**BASE, "Content-Security-Policy": policy}


async def secure_html(response: Response[Any]) -> Response[Any]:
    """After every request: an HTML answer without headers of its own gets the defaults.
    Async, as Litestar runs a sync hook in a thread pool: a thread hop on every request."""
    if str(response.media_type).startswith("text/html"):
        for name, value in {**BASE, "Content-Security-Policy": DEFAULT_CSP}.items():
            response.headers.setdefault(name, value)
    return response
