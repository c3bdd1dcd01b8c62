"""Safe retries: the Idempotency-Key header on POST, PUT and PATCH routes.

How the pieces fit (one transaction from claim to stored answer):

1. ``guard`` (a router-level dependency on every /api/v1 route) runs before the
   route's own code, in the request's session: it claims the key, or answers a
   retry with the stored response by raising ``Replay``.
2. The route does its work in the same session.
3. ``WriteBufferMiddleware`` holds back the response of every write request until
   the request's transaction has ended. The session dependency commits only after
   FastAPI has produced the response (its default "request" scope), so the guard's
   teardown can read the finished response from the buffer and store it in the key
   row before the commit. The client then sees the response only once it is durable.

A request that fails with an error rolls everything back, its key included, so a
retry runs again; only what was committed is ever replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.access import Actor
from app.deps import NowDep, SessionDep, before_commit, known_query
from app.errors import NotAuthenticated
from app.services.idempotency import (
    Claim,
    IdempotencyKeyInvalid,
    StoredResponse,
    claim_key,
    request_hash,
    store_response,
)
from app.services.tokens import authenticate

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEYED_METHODS = frozenset({"POST", "PUT", "PATCH"})
WRITE_METHODS = KEYED_METHODS | {"DELETE"}
CAPTURE_KEY = "followup.captured_response"
NO_REPLAY_ATTRIBUTE = "__followup_no_replay__"
DEFAULT_WAIT_SECONDS = 10.0

# Routes whose response holds a secret, named here because their module does not
# (yet) mark them with ``no_replay``. The secret-scan tests catch a missing entry.
NO_REPLAY_ENDPOINTS = frozenset({"app.api.routes.calendar.create_feed_token"})

F = TypeVar("F", bound=Callable[..., Any])


def no_replay(endpoint: F) -> F:
    """Mark a route whose response must never be stored (it carries a secret).

    Such a route refuses an Idempotency-Key rather than keep a copy of the secret.
    """
    setattr(endpoint, NO_REPLAY_ATTRIBUTE, True)
    return endpoint


@dataclass
class CapturedResponse:
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False

    @property
    def content_type(self) -> str | None:
        return self.header(b"content-type")

    @property
    def location(self) -> str | None:
        return self.header(b"location")

    def header(self, wanted: bytes) -> str | None:
        for name, value in self.headers:
            if name.lower() == wanted:
                return value.decode("latin-1")
        return None


class WriteBufferMiddleware:
    """Hold a write request's response until the app (and its transaction) is done."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        capture = CapturedResponse()
        scope[CAPTURE_KEY] = capture
        messages: list[Message] = []

        async def buffer(message: Message) -> None:
            if message["type"] == "http.response.start":
                capture.status = message["status"]
                capture.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                capture.body.extend(message.get("body", b""))
                capture.complete = not message.get("more_body", False)
            messages.append(message)

        # If the app fails after producing a response (a failed commit), the response
        # is dropped here and the error handler outside sends a 500 instead.
        await self.app(scope, receive, buffer)
        for message in messages:
            await send(message)


class Replay(Exception):
    """Raised by the guard to answer a retry with the stored response."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("replay")
        self.stored = stored


def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    stored = exc.stored
    return Response(
        content=stored.body.encode(),
        status_code=stored.status_code,
        media_type=stored.content_type,
        headers={REPLAYED_HEADER: "true",
                 **({"Location": stored.location} if stored.location else {})},
    )


def _no_replay(endpoint: object) -> bool:
    name = f"{getattr(endpoint, '__module__', '')}.{getattr(endpoint, '__qualname__', '')}"
    return bool(getattr(endpoint, NO_REPLAY_ATTRIBUTE, False)) or name in NO_REPLAY_ENDPOINTS


async def _fingerprint(request: Request) -> str | None:
    """The hash of method, path and body, for keyed writes only."""
    if request.method not in KEYED_METHODS or HEADER.lower() not in request.headers:
        return None
    body = await request.body()  # already read and cached by FastAPI for body routes
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return request_hash(request.method, target, body)


def _actor(request: Request, session: Session, now: datetime) -> Actor | None:
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not credentials:
        return None
    try:
        return authenticate(session, credentials, now=now)
    except NotAuthenticated:
        return None


def _claim(
    request: Request, session: Session, actor: Actor, fingerprint: str, now: datetime
) -> Claim | StoredResponse:
    return claim_key(
        session,
        actor=actor,
        key=request.headers[HEADER],
        method=request.method,
        path=request.url.path,
        fingerprint=fingerprint,
        wait_seconds=getattr(request.app.state, "idempotency_wait_seconds", DEFAULT_WAIT_SECONDS),
        now=now,
    )


async def guard(request: Request, session: SessionDep, now: NowDep) -> None:
    """Every /api/v1 route's guard: unknown query parameters refused (422), then the
    Idempotency-Key claimed, or a retry answered from the stored response.

    One dependency rather than three, and not a generator: each is work for every
    request. The response is stored by the session's end, in the same transaction
    (:func:`app.deps.before_commit`). Async, so that the many requests without a key
    never visit a worker thread here; the keyed ones do their database work in one."""
    await known_query(request)
    fingerprint = await _fingerprint(request)
    if fingerprint is None:
        return
    # Keys belong to a token. Without a valid one the route's own authentication
    # answers 401 (before anything is said about the key); nothing is claimed.
    actor = await run_in_threadpool(_actor, request, session, now)
    if actor is None:
        return
    if _no_replay(request.scope.get("endpoint")):
        raise IdempotencyKeyInvalid(
            f"{HEADER} is not accepted here: the response holds a secret that is never stored",
            field=HEADER,
        )
    result = await run_in_threadpool(_claim, request, session, actor, fingerprint, now)
    if isinstance(result, StoredResponse):
        raise Replay(result)
    claim = result
    before_commit(session, lambda: _store(request, session, claim))


def keyed(request: Request) -> bool:
    """Whether the request sent an Idempotency-Key: its answer is stored in the same
    transaction after the route returns, so the route must not end the transaction."""
    return request.method in KEYED_METHODS and HEADER.lower() in request.headers


def _store(request: Request, session: Session, claim: Claim) -> None:
    capture = request.scope.get(CAPTURE_KEY)
    if not isinstance(capture, CapturedResponse) or capture.status is None or not capture.complete:
        # The response must exist before the session commits; if the session ever
        # stops outliving the response, fail loudly rather than commit an empty key.
        raise RuntimeError("response not captured before the transaction ended")
    store_response(
        session,
        claim,
        status_code=capture.status,
        body=bytes(capture.body),
        content_type=capture.content_type,
        location=capture.location,
    )


IdempotencyGuard = Depends(guard)


HEADER_DOC: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe: the same key with the same request (method, path, body) from "
        "the same token within 24 hours returns the stored answer (same status, body and "
        f"Location, header `{REPLAYED_HEADER}: true`) without doing the work again; the same "
        "key with another request is 422. Up to 200 printable ASCII characters, e.g. a UUID. "
        "Refused (422) where the answer holds a secret: creating API or calendar-feed tokens."
    ),
    # Documented without leading/trailing spaces, which HTTP strips anyway.
    "schema": {"type": "string", "pattern": r"^[!-~]([ -~]{0,198}[!-~])?$", "maxLength": 200},
}


def _document(app: FastAPI) -> None:
    """Add the Idempotency-Key header to every keyed operation of the OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for method, operation in operations.items():
                if method.upper() in KEYED_METHODS:
                    operation.setdefault("parameters", []).append(dict(HEADER_DOC))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI, *, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> None:
    """Add the buffer middleware, the replay handler and the header's documentation
    (routes get ``IdempotencyGuard`` when their router is included)."""
    app.state.idempotency_wait_seconds = wait_seconds
    app.add_middleware(WriteBufferMiddleware)
    app.add_exception_handler(Replay, _replay)
    _document(app)
