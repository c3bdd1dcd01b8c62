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

The documentation pages are files of this server too (app/api/docs.py): /docs may
show the data: images Swagger UI's stylesheet draws its icons with, and /redoc the
style elements and the search worker ReDoc makes at run time; neither runs an inline
script.
"""

from __future__ import annotations

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
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)



def _policy(**extra: str) -> str:
    """The policy with ``extra`` sources added to its directives (new ones appended)."""
    directives = []
    for directive in DIRECTIVES:
        name = directive.split(" ", 1)[0]
        added = extra.pop(name.replace("-", "_"), "")
        directives.append(f"{directive} {added}".rstrip())
    directives += [f"{name.replace('_', '-')} {value}" for name, value in extra.items()]
    return "; ".join(directives)


# The documentation pages, by path: what each needs beyond the policy.
PAGE_POLICIES = {
    "/docs": _policy(img_src="data:"),
    "/redoc": _policy(style_src="'unsafe-inline'", img_src="data:", worker_src="blob:"),
}


class SecurityHeadersMiddleware:
    """Add :data:`HEADERS` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = PAGE_POLICIES.get(scope["path"], CONTENT_SECURITY_POLICY)
        await self.app(scope, receive, _with_headers(send, policy))


def _with_headers(send: Send, policy: str) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers.setdefault("Content-Security-Policy", policy)
            for name, value in HEADERS:
                headers.setdefault(name, value)
        await send(message)

    return sender
