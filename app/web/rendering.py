"""Templates, responses and the one place where errors become readable pages.

Web routes use :class:`WebRoute`: whatever a route (or a dependency) raises leaves the
route as :class:`PageFailed`, so it passes through the session dependency, which rolls
the request's transaction back, and then reaches :func:`page_for_error`, which turns it
into an HTML page with a plain message (never a stack trace, never problem+json). A
domain error gets the status the API gives it (:func:`app.problems.status_of`), and a
database that is busy or out of reach the API's 503 and Retry-After
(:func:`app.problems.database_outage`) with a "try again" page.

Forms that show a refusal on the form itself use :func:`app.web.forms.submit` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app import errors
from app.problems import database_outage, status_of
from app.web.session import COOKIE_NAME, SessionCodec, WebSession, anonymous

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "web"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def day(value: date | None) -> str:
    """A date with its weekday, ISO order: "Mon 2026-03-02" (unambiguous at every site)."""
    if value is None:
        return "—"
    return f"{value:%a} {value.isoformat()}"


def stamp(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def label(value: object) -> str:
    """Enum values and actions as words: "completed_out_of_window" -> "completed out of
    window", "visit.completed" -> "visit completed"."""
    raw = getattr(value, "value", value)
    return str(raw).replace("_", " ").replace(".", " ")


def sentence(text: object) -> str:
    """A service's message as a sentence: "age 86 at consent ..." -> "Age 86 at consent ..."."""
    value = str(text)
    return value[:1].upper() + value[1:]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(day=day, stamp=stamp, label=label, sentence=sentence,
                       iso=lambda d: d.isoformat() if d else "")
    return env


templates = Jinja2Templates(env=_environment())

# Only this server's own files may run or be framed; inline style attributes draw the
# bars of the subject page, hence 'unsafe-inline' for styles only.
class SignInRequired(Exception):
    """No signed-in session: the browser is sent to the sign-in page."""


class PasswordChangeRequired(Exception):
    """Signed in with a one-time password: nothing but changing it until it is changed."""


class CsrfRejected(Exception):
    """A form arrived without the token of the session that sent it."""


def codec(request: Request) -> SessionCodec:
    value: SessionCodec = request.app.state.web_codec
    return value


def web_session(request: Request) -> WebSession:
    """The session of this request, as the pages' dependency found it (app.web.deps).

    A request that failed before that learns only what the cookie says without the
    database: a signed-out session's seed, or a new anonymous session (the cookie of a
    signed-in session is then left as it is).
    """
    current: WebSession | None = getattr(request.state, "web_session", None)
    if current is None:
        cookie = codec(request).loads(request.cookies.get(COOKIE_NAME))
        if cookie is not None and cookie.csrf_seed is not None:
            current = WebSession(cookie.csrf_seed)
        else:
            current = anonymous()
            request.state.web_session_dirty = cookie is None
        request.state.web_session = current
    return current


def replace_session(request: Request, new: WebSession) -> None:
    request.state.web_session = new
    request.state.web_session_dirty = True


def _attach_cookie(request: Request, response: Response) -> Response:
    if getattr(request.state, "web_session_dirty", False):
        response.set_cookie(
            COOKIE_NAME,
            codec(request).dumps(web_session(request)),
            max_age=codec(request).max_age,
            path="/",
            httponly=True,
            samesite="lax",
            secure=codec(request).secure,
        )
    return response


def render(
    request: Request, template: str, context: Mapping[str, Any] | None = None, status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    session = web_session(request)
    full: dict[str, Any] = {
        "csrf_token": codec(request).csrf_token(session),
        "web_session": session,
        "actor": getattr(request.state, "actor", None),
        "notice": None,
    }
    full.update(context or {})
    response = templates.TemplateResponse(request, template, full, status_code=status)
    # Pages show who is signed in and carry CSRF tokens: never cache them.
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers or {})
    return _attach_cookie(request, response)


def redirect(request: Request, url: str, **params: str) -> Response:
    """Post/redirect/get: 303 so the browser follows with a GET."""
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
    return _attach_cookie(request, RedirectResponse(url, status_code=303))


def error_page(request: Request, status: int, title: str, message: str,
               headers: Mapping[str, str] | None = None) -> Response:
    return render(request, "error.html", {"title": title, "message": message}, status=status,
                  headers=headers)


class PageFailed(Exception):
    """What a web route raised, on its way out of the request to :func:`page_for_error`.

    Raised by :class:`WebRoute` from the original exception (``cause``); leaving the
    route, it makes the session dependency roll the request's transaction back.
    """

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _signin_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        return "/signin"
    return f"/signin?next={quote(target, safe='')}"


async def page_for_error(request: Request, failed: Exception) -> Response:
    """Turn what went wrong into a page the coordinator can read (the request's transaction
    is already rolled back: nothing it wrote is kept)."""
    assert isinstance(failed, PageFailed)
    exc = failed.cause
    if isinstance(exc, SignInRequired):
        return redirect(request, _signin_url(request))
    if isinstance(exc, PasswordChangeRequired):
        return redirect(request, "/password")
    if isinstance(exc, errors.NotAuthenticated):
        # The session ended since the last page (signed out elsewhere, timed out, or its
        # token was revoked or expired): the browser gets a new, signed-out session.
        replace_session(request, web_session(request).signed_out())
        return redirect(request, "/signin", ended="1")
    if isinstance(exc, CsrfRejected):
        return error_page(request, 403, "Form expired",
                          "This form was open too long or came from another page. "
                          "Go back, reload the page and send it again.")
    if isinstance(exc, errors.FollowupError):
        # The API's status for the same error: 404 "Not found", 403 "Not allowed", 409 ...
        return error_page(request, status_of(exc), exc.title, exc.detail)
    if isinstance(exc, RequestValidationError):
        in_path = any(err.get("loc", ("",))[0] == "path" for err in exc.errors())
        if in_path:
            return error_page(request, 404, "Not found", "There is no such page.")
        return error_page(request, 400, "Bad address",
                          "Some values in the address are not valid. Use the links on the pages.")
    if (outage := database_outage(request, exc)) is not None:
        return error_page(request, outage.status, outage.title, outage.detail, outage.headers)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_page(request, 500, "Something went wrong",
                      "The server could not complete this request. Nothing was saved.")


class WebRoute(APIRoute):
    """A route whose errors are rendered as pages (see :func:`page_for_error`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except Exception as exc:  # every error gets a page; unexpected ones are logged
                raise PageFailed(exc) from exc

        return handler


def add_page_errors(app: FastAPI) -> None:
    """Answer what the web routes raise with pages (the API's errors stay problem+json)."""
    app.add_exception_handler(PageFailed, page_for_error)
