"""Security headers on every response: API, problems, pages, redirects, files, docs.

One pure ASGI middleware, outside everything else (see app/main.py), so that nothing
answers without them: not a 404 of the router, a 413 of the body limit, a static
file, nor the 500 of an unexpected error. A header a response already carries is
kept (a page may set a policy of its own).

The policy: the pages use only this server's own stylesheet and scripts, and inline
style attributes (the bars of the study and subject pages set their width), never an
inline script. Nothing may frame a response, and no URL is sent to another site as a
Referer (calendar-feed URLs carry their token in the query string); same-origin
requests keep theirs, and with it their Origin header.

The documentation page (/docs) starts Swagger UI with an inline script: its hash is
allowed on that page only, computed from the page as served, as are the data: images
of Swagger UI's stylesheet. Its script and stylesheet must come from this server
(e.g. under /static): the policy allows no other origin.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Collection

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY = "; ".join(DIRECTIVES)

HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)

# Where FastAPI serves the API's documentation (Swagger UI and its OAuth2 redirect).
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})

_INLINE_SCRIPT = re.compile(
    rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL
)


def script_hashes(html: bytes) -> list[str]:
    """The CSP source of each inline script of a page: 'sha256-<base64 of its text>'."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    ]


def docs_policy(html: bytes) -> str:
    """The policy of a documentation page: its own inline scripts, and data: images."""
    extra = {
        "script-src": " ".join(script_hashes(html)),
        "img-src": "data:",
    }
    directives = []
    for directive in DIRECTIVES:
        name = directive.split(" ", 1)[0]
        directives.append(f"{directive} {extra[name]}".rstrip() if name in extra else directive)
    return "; ".join(directives)


class SecurityHeadersMiddleware:
    """Add :data:`HEADERS` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, *, docs_paths: Collection[str] = DOCS_PATHS) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["path"] in self.docs_paths:
            await self._docs(scope, receive, send)
        else:
            await self.app(scope, receive, _with_headers(send))

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A documentation page is held back whole (a few kB) to hash its scripts."""
        start: Message | None = None
        body = bytearray()

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            headers = MutableHeaders(scope=start)
            if headers.get("content-type", "").startswith("text/html"):
                headers.setdefault("Content-Security-Policy", docs_policy(bytes(body)))
            await _with_headers(send)(start)
            await send({"type": "http.response.body", "body": bytes(body)})

        await self.app(scope, receive, hold)


def _with_headers(send: Send) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in HEADERS:
                headers.setdefault(name, value)
        await send(message)

    return sender
