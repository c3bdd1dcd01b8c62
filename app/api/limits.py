"""Limits that apply before any route runs: body size, media type, and how many
requests one process works on at once.

Both are checked on the raw ASGI stream, so a client cannot get around the size limit
by leaving out Content-Length (chunked upload): the body is counted as it arrives and
reading stops at the first byte over the limit. Refusals are problem+json like every
other error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.problems import problem

JSON_API_PREFIX = "/api/"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self) -> ASGIApp:
        return problem(
            413, "too-large", "Request body too large",
            f"the request body is larger than {self.max_body_bytes} bytes",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await problem(400, "bad-request", "Bad request",
                              "Content-Length is not a number")(scope, receive, send)
                return
            if int(length) > self.max_body_bytes:
                await self._too_large()(scope, receive, send)
                return
        if length is None and "transfer-encoding" not in headers:
            # HTTP/1.1: no Content-Length and no Transfer-Encoding means no body.
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(receive)
        except _TooLarge:
            await self._too_large()(scope, receive, send)
            return
        if (
            body
            and scope["method"] in BODY_METHODS
            and scope["path"].startswith(JSON_API_PREFIX)
            and not is_json(headers.get("content-type", ""))
        ):
            await problem(
                415, "unsupported-media-type", "Unsupported media type",
                "send the body as JSON with Content-Type: application/json",
            )(scope, receive, send)
            return
        await self.app(scope, self._replaying(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        chunks = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunks.extend(message.get("body", b""))
            if len(chunks) > self.max_body_bytes:
                raise _TooLarge
            if not message.get("more_body", False):
                break
        return bytes(chunks)

    @staticmethod
    def _replaying(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            # Afterwards only a disconnect can come (streaming responses listen for it).
            return await receive()

        return replay


class ConcurrencyLimitMiddleware:
    """At most ``limit`` requests of this process inside the app at once; the others
    wait here, on the event loop, in arrival order.

    Why: every request's database work runs in a worker thread, and threads beyond a
    few only fight over the interpreter lock. On SQLite, 16 threads running the
    worklist query in one process answer a third as many queries per second as 2 do.
    Keeping ``limit`` at or below the connection pool also means no request ever waits
    for a connection while holding a thread. ``exempt`` paths (liveness) never wait.
    """

    def __init__(
        self, app: ASGIApp, *, limit: int, exempt: Collection[str] = ("/healthz",)
    ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = frozenset(exempt)
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # made on first use, inside the server's event loop
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            await self.app(scope, receive, send)
