"""RFC 9457 problem details: every error response of the API, mapped in one place.

The status of a domain error (:data:`STATUS`, read through :func:`status_of`) is shared
with the web pages, which show the same refusal as a page with the same status. So is
the answer to a database that is busy or out of reach (:func:`database_outage`): 503
with ``Retry-After``, as a problem for the API and as a "try again" page for the pages.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app import errors
from app.db import Outage, outage_of
from app.schedule.text import MULTI_LINE_PATTERN, control_character_problem

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first class an error is an instance of decides. The API and
# the web pages both answer with these (see status_of).
STATUS: tuple[tuple[type[errors.FollowupError], int], ...] = (
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.ScheduleError, 422),
    (errors.InvalidRequest, 422),
    (errors.NotAuthenticated, 401),
    (errors.TooManyAttempts, 429),
    (errors.Forbidden, 403),
)

HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("not-authenticated", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Request validation failed"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal-error", "Internal server error"),
}


def problem_type(slug: str) -> str:
    return f"/problems/{slug}"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(exc: errors.FollowupError) -> int:
    """The HTTP status of a domain error, for the API and the web pages alike."""
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 400)


def challenge(status: int) -> dict[str, str] | None:
    """The headers a response of ``status`` must carry: a 401 names the scheme (RFC 9110)."""
    return {"WWW-Authenticate": "Bearer"} if status == 401 else None


def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.FollowupError)
    status = status_of(exc)
    return problem(status, exc.slug, exc.title, exc.detail, challenge(status), **exc.extra)


def _message(err: Mapping[str, Any]) -> str:
    """The message of one validation error. Text refused by its pattern for a control
    character says which character and where, rather than quoting the pattern."""
    value = err.get("input")
    if err.get("type") == "string_pattern_mismatch" and isinstance(value, str):
        multiline = (err.get("ctx") or {}).get("pattern") == MULTI_LINE_PATTERN
        if (problem := control_character_problem(value, multiline=multiline)) is not None:
            return problem
    return str(err.get("msg", ""))


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {
            "location": ".".join(str(p) for p in err.get("loc", ())),
            "message": _message(err),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]
    detail = "; ".join(f"{f['location']}: {f['message']}" for f in fields) or "invalid request"
    return problem(422, "validation-error", "Request validation failed", detail, errors=fields)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at the request's path.

    Starlette answers 405 with the methods of the first route whose path matched; a
    path served by several routes (GET and POST apart) needs them all. Each method is
    tried against the routes as the router itself would match it.
    """
    routes = request.app.router.routes
    return [
        method for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
               for route in routes)
    ]


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug, title = HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (methods := allowed_methods(request)):
        headers["Allow"] = ", ".join(methods)
    return problem(exc.status_code, slug, title, detail, headers or None)


def unexpected_error() -> JSONResponse:
    return problem(500, "internal-error", "Internal server error", "An unexpected error occurred.")


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Given the exception: this handler runs after the except block (in a worker thread),
    # where none is active. A failed statement's message shows its shape only (app.db).
    log.error("unhandled error on %s %s (request %s)", request.method, request.url.path,
              getattr(request.state, "request_id", "-"), exc_info=exc)
    return unexpected_error()


@dataclass(frozen=True, slots=True)
class DatabaseProblem:
    """How to answer while the database cannot serve requests: always 503."""

    slug: str
    title: str
    detail: str
    retry_after: int  # seconds

    status = 503

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


DATABASE_PROBLEMS = {
    Outage.BUSY: DatabaseProblem(
        "database-busy", "Database busy",
        "the database is busy with another write (an import?); nothing was changed,"
        " try again in a few seconds", 5),
    Outage.UNAVAILABLE: DatabaseProblem(
        "database-unavailable", "Database not available",
        "the database is not available right now; nothing was changed, try again in a minute",
        60),
}

# What the database layer raises when it is busy or out of reach (and other errors too:
# :func:`outage_of` tells them apart).
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError,
)


def database_outage(request: Request, exc: BaseException) -> DatabaseProblem | None:
    """The answer when ``exc`` means the database is busy or out of reach, logged here
    once as a warning (the driver's message, never the statement or its parameters);
    None for any other error."""
    outage = outage_of(exc)
    if outage is None:
        return None
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    message = (str(cause).strip().splitlines() or [""])[0][:300]
    log.warning("database %s on %s (request %s): %s: %s", outage.value, request.method,
                getattr(request.state, "request_id", "-"), type(cause).__name__, message)
    return DATABASE_PROBLEMS[outage]


def _database(request: Request, exc: Exception) -> JSONResponse:
    found = database_outage(request, exc)
    if found is None:
        # Any other database error is unexpected: on to the handler of last resort
        # (logged with its traceback, 500), as if this handler were not here.
        raise exc
    return problem(found.status, found.slug, found.title, found.detail, found.headers)


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.FollowupError, _domain)
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, _database)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
