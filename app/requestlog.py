"""One structured log line per request, and the request id that ties it together.

Each line is JSON on the ``app.requests`` logger: time, request id, method, the route
template (``/api/v1/studies/{study}/subjects``, never the path with its ids), status,
duration and the acting token's name. Never the query string, headers, bodies or
tokens: those can carry personal data and secrets.

The request id is the client's ``X-Request-ID`` when it is a plain token of at most 64
characters (an EDC or a proxy may send one to correlate), or a new random one; it is
echoed on the response either way.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.problems import unexpected_error

log = logging.getLogger("app.requests")

HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
UNMATCHED = "(no route)"


def request_id_of(headers: Headers) -> str:
    """The client's request id when it is safe to log and echo, else a new one."""
    given = headers.get(HEADER, "")
    return given if _VALID_ID.match(given) else uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The template of the route that answered, e.g. ``/api/v1/studies/{study}/subjects``.

    Routes inside an included router know only their own part of the path, so the
    route's pattern is aligned with the end of the path and the router's prefix (plain
    text) is taken from the path. A mounted app (the static files) is its mount point
    and ``{path}``; otherwise each path parameter's value is put back as its name.
    """
    if scope.get("endpoint") is None:
        return UNMATCHED
    path: str = scope.get("path", "")
    segments = path.split("/")
    route = scope.get("route")
    pattern = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(pattern, str) and ":" not in pattern:
        own = pattern.split("/")[1:]  # after the leading slash
        if len(own) < len(segments):
            return "/".join(segments[: len(segments) - len(own)] + own)
    mounted_at = scope.get("root_path", "")
    if mounted_at and mounted_at != scope.get("app_root_path", mounted_at):
        return f"{mounted_at}/{{path}}"  # a mounted app, such as the static files
    params: dict[str, object] = scope.get("path_params") or {}
    names = {str(value): str(name) for name, value in params.items()}
    for value, name in names.items():
        if "/" in value and path.endswith("/" + value):  # a {name:path} parameter
            return path[: len(path) - len(value)] + "{" + name + "}"
    return "/".join("{" + names[s] + "}" if s in names else s for s in segments)


def actor_name(scope: Scope) -> str | None:
    state = scope.get("state") or {}
    actor = state.get("actor") if isinstance(state, dict) else None
    name = getattr(actor, "name", None)
    return name if isinstance(name, str) else None


# Told of every answered request: method, route template, status, seconds (metrics).
Observer = Callable[[str, str, int, float], None]


class RequestLogMiddleware:
    """Pure ASGI: sets the request id, then logs the request once it has been answered
    (and tells ``observe``, when given, what it logged)."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(Headers(scope=scope))
        scope.setdefault("state", {})["request_id"] = request_id
        began = time.perf_counter()
        status = 500  # what the client gets when nothing was sent (the server's answer)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        started = False

        async def send_once(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_id(message)

        try:
            await self.app(scope, receive, send_once)
        except Exception:
            # The error handlers (app.problems) logged it with its traceback; the answer
            # is the same 500 problem the server would send, but carrying the request id.
            if not started:
                await unexpected_error()(scope, receive, send_once)
            raise
        finally:
            seconds = time.perf_counter() - began
            route = route_template(scope)
            if log.isEnabledFor(logging.INFO):  # the line is not even built otherwise
                log.info(json.dumps({
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "actor": actor_name(scope),
                }, separators=(",", ":")))
            if self.observe is not None:
                self.observe(scope["method"], route, status, seconds)
