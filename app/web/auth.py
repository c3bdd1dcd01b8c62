"""Sign in with an API token, sign out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.errors import NotAuthenticated
from app.web.deps import CheckedForm, NowDep, SettingsDep, WebDb, WebSessionDep, field
from app.web.forms import FormPage
from app.web.identity import sign_in, sign_out
from app.web.rendering import WebRoute, redirect, render, replace_session
from app.web.session import WebSession

router = APIRouter(route_class=WebRoute, include_in_schema=False)

HOME = "/worklist"
NOT_VALID = "That token is not valid: it may be mistyped, expired or revoked."


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would make sign-in a phishing tool."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


@router.get("/")
def home(session: WebSessionDep, request: Request) -> Response:
    return redirect(request, HOME if session.signed_in else "/signin")


@router.get("/signin")
def signin_page(request: Request, session: WebSessionDep, next: str = HOME,
                ended: str | None = None) -> Response:
    notice = ("Your session ended: it was signed out, unused for too long or open too long,"
              " or the token expired or was revoked." if ended else None)
    return render(request, "signin.html", {"next": safe_next(next), "notice": notice})


@router.post("/signin")
def signin(request: Request, db: WebDb, session: WebSessionDep, form: CheckedForm,
           now: NowDep, settings: SettingsDep) -> Response:
    raw = field(form, "token", limit=200)
    target = safe_next(field(form, "next", limit=500))
    try:
        if not raw:
            raise NotAuthenticated("paste an API token")
        started = sign_in(db, raw, now=now, settings=settings)
    except NotAuthenticated as exc:
        # Nothing was written; like the API, the form never says why (and answers 401).
        return FormPage("signin.html", {"next": target}).refused(request, exc, message=NOT_VALID)
    if session.session_id is not None and session.actor is not None:
        # Signing in again, perhaps as someone else: the session before ends.
        sign_out(db, session.session_id, actor=session.actor, now=now)
    replace_session(request, WebSession(started.csrf_seed, started.session_id, started.actor))
    return redirect(request, target)


@router.post("/signout")
def signout(request: Request, db: WebDb, session: WebSessionDep, form: CheckedForm,
            now: NowDep) -> Response:
    """End the session on the server: every copy of the cookie stops working at once."""
    if session.session_id is not None and session.actor is not None:
        sign_out(db, session.session_id, actor=session.actor, now=now)
    replace_session(request, session.signed_out())
    return redirect(request, "/signin")
