"""Sign in with a username and password (or an API token), change the password, sign out."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from app.adapters.oidc import OidcClient, OidcError
from app.deps import end_now
from app.errors import FollowupError, InvalidRequest, NotAuthenticated, TooManyAttempts
from app.services.accounts.users import change_password
from app.settings import Settings
from app.web.deps import CheckedForm, NowDep, SettingsDep, WebDb, WebSessionDep, field
from app.web.forms import FormPage
from app.web.identity import sign_in, sign_in_with_password, sign_out
from app.web.rendering import SignInRequired, WebRoute, redirect, render, replace_session
from app.web.session import WebSession

log = logging.getLogger(__name__)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

HOME = "/worklist"
NOT_VALID = "That token is not valid: it may be mistyped, expired or revoked."
# The same words for an unknown username, a wrong password and a disabled account.
NOT_VALID_PASSWORD = "That username or password is not valid."


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would make sign-in a phishing tool."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


@router.get("/")
def home(session: WebSessionDep, request: Request) -> Response:
    return redirect(request, HOME if session.signed_in else "/signin")


def sso_name(settings: Settings) -> str | None:
    """The single sign-on provider's name for the sign-in page, when it is configured."""
    return settings.oidc.provider_name if settings.oidc.configured else None


@router.get("/signin")
def signin_page(request: Request, session: WebSessionDep, settings: SettingsDep,
                next: str = HOME, ended: str | None = None) -> Response:
    notice = ("Your session ended: it was signed out, unused for too long or open too long,"
              " or the token expired or was revoked." if ended else None)
    return render(request, "signin.html", {"next": safe_next(next), "notice": notice,
                                           "sso_name": sso_name(settings)})


@router.post("/signin")
def signin(request: Request, db: WebDb, session: WebSessionDep, form: CheckedForm,
           now: NowDep, settings: SettingsDep) -> Response:
    target = safe_next(field(form, "next", limit=500))
    page = FormPage("signin.html", {"next": target, "sso_name": sso_name(settings)})
    try:
        if "token" in form:
            raw = field(form, "token", limit=200)
            if not raw:
                raise NotAuthenticated("paste an API token")
            started = sign_in(db, raw, now=now, settings=settings)
        else:
            password = form.get("password")
            started = sign_in_with_password(
                db, username=field(form, "username", limit=100),
                password=password if isinstance(password, str) else "",
                address=request.client.host if request.client else None, now=now,
                settings=settings,
            )
    except NotAuthenticated as exc:
        # Like the API, the form never says why (and answers 401). A failed password is
        # counted: the transaction is committed with this answer.
        message = NOT_VALID if "token" in form else NOT_VALID_PASSWORD
        return page.refused(request, exc, message=message)
    except TooManyAttempts as exc:
        refused = page.refused(request, exc)
        refused.headers["Retry-After"] = str(exc.extra.get("retry_after", 1))
        return refused
    if session.session_id is not None and session.actor is not None:
        # Signing in again, perhaps as someone else: the session before ends.
        sign_out(db, session.session_id, actor=session.actor, now=now)
    replace_session(request, WebSession(started.csrf_seed, started.session_id, started.actor,
                                        started.must_change_password))
    return redirect(request, "/password" if started.must_change_password else target)


def _password_page(request: Request, session: WebSession) -> FormPage:
    if session.actor is None:
        if getattr(request.state, "web_session_ended", False):
            raise NotAuthenticated("the session ended")
        raise SignInRequired()
    if session.actor.user is None or session.actor.token is not None:
        raise InvalidRequest("signed in with an API token: there is no password to change")
    return FormPage("password.html", {"forced": session.must_change_password,
                                      "actor": session.actor})


@router.get("/password")
def password_page(request: Request, session: WebSessionDep) -> Response:
    page = _password_page(request, session)
    return render(request, page.template, dict(page.context))


@router.post("/password")
def password_change(request: Request, db: WebDb, session: WebSessionDep, form: CheckedForm,
                    now: NowDep) -> Response:
    """The signed-in person's new password (the current one asked again)."""
    page = _password_page(request, session)
    assert session.actor is not None
    values = {name: value if isinstance(value := form.get(name), str) else ""
              for name in ("current_password", "password", "password_again")}
    try:
        with db.begin_nested():
            if values["password"] != values["password_again"]:
                raise InvalidRequest("the two new passwords differ", field="password_again")
            change_password(db, actor=session.actor, current=values["current_password"],
                            new=values["password"], now=now)
    except FollowupError as exc:
        return page.refused(request, exc)
    replace_session(request, WebSession(session.csrf_seed, session.session_id, session.actor))
    return redirect(request, HOME)


def provider_sign_out(settings: Settings, id_token: str | None) -> str | None:
    """Where to send the browser to sign out at the single sign-on provider too: only for
    a session it started, when the provider names an end-session endpoint. When the
    provider cannot be reached, the local sign-out stands alone (and is logged)."""
    if id_token is None or not settings.oidc.configured:
        return None
    try:
        return OidcClient(settings.oidc, base_url=settings.base_url).logout_url(id_token)
    except OidcError as exc:
        log.warning("signed out here only: the provider could not be asked: %s", exc)
        return None


@router.post("/signout")
def signout(request: Request, db: WebDb, session: WebSessionDep, form: CheckedForm,
            now: NowDep, settings: SettingsDep) -> Response:
    """End the session on the server: every copy of the cookie stops working at once. A
    single sign-on's session then goes on to sign out at the provider, when it can."""
    id_token = None
    if session.session_id is not None and session.actor is not None:
        id_token = sign_out(db, session.session_id, actor=session.actor, now=now)
    replace_session(request, session.signed_out())
    provider_url = provider_sign_out(settings, id_token)
    if provider_url is None:
        return redirect(request, "/signin")
    end_now(db)  # signed out here before the browser leaves for the provider
    # A page that goes on by itself, not a redirect: the form's answer may only redirect
    # to this site (the policy's form-action 'self'), the provider is another.
    return render(request, "signed_out_sso.html", {
        "provider_url": provider_url, "provider": settings.oidc.provider_name})
