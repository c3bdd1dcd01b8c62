"""Single sign-on with the hospital's OpenID Connect provider (when OIDC_* is set).

``GET /signin/sso`` sends the browser to the provider with a new state, nonce and PKCE
verifier, which a short-lived signed cookie keeps for this browser only;
``GET /signin/sso/callback`` is where the provider sends it back: the state must match
the cookie's, the code is exchanged and the ID token checked
(:mod:`app.adapters.oidc`), and the person signs in as the local account it names
(:mod:`app.services.accounts.single_sign_on`), with the same server-side session as a
password sign-in. Without OIDC settings both addresses answer 404.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.adapters.oidc import CALLBACK_PATH, Login, OidcClient, OidcError
from app.deps import end_now
from app.errors import NotFound
from app.services.accounts.single_sign_on import SingleSignOnRefused, match_account
from app.settings import Settings
from app.web.auth import HOME, safe_next
from app.web.deps import NowDep, SettingsDep, WebDb, WebSessionDep
from app.web.identity import sign_in_with_sso, sign_out
from app.web.rendering import WebRoute, redirect, render, replace_session
from app.web.session import WebSession

log = logging.getLogger(__name__)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

FLOW_COOKIE = "followup_sso"
# The provider has this long to send the browser back.
FLOW_SECONDS = 600


def _client(settings: Settings) -> OidcClient:
    if not settings.oidc.configured:
        raise NotFound("there is no such page")
    return OidcClient(settings.oidc, base_url=settings.base_url)


def _flow(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key.get_secret_value(),
                                  salt="followup.web.sso")


def _refused(request: Request, status: int, title: str, message: str) -> Response:
    response = render(request, "sso_refused.html", {"title": title, "message": message},
                      status=status)
    response.delete_cookie(FLOW_COOKIE, path="/signin/sso")
    return response


@router.get("/signin/sso")
def sso_begin(request: Request, settings: SettingsDep, next: str = HOME) -> Response:
    client = _client(settings)
    try:
        url, login = client.begin()
    except OidcError as exc:
        log.warning("single sign-on could not start: %s", exc)
        return _refused(request, 502, "Sign-in provider unavailable",
                        f"{settings.oidc.provider_name} could not be reached. Try again"
                        " later, or sign in with your username and password.")
    response = redirect(request, url)
    response.set_cookie(
        FLOW_COOKIE,
        _flow(settings).dumps([login.state, login.nonce, login.code_verifier, safe_next(next)]),
        max_age=FLOW_SECONDS, path="/signin/sso", httponly=True,
        # Lax: the provider's redirect back is a top-level GET, which Lax cookies follow.
        samesite="lax", secure=settings.cookie_secure,
    )
    return response


def _login_of(request: Request, settings: Settings) -> tuple[Login, str] | None:
    try:
        value = _flow(settings).loads(request.cookies.get(FLOW_COOKIE, ""),
                                      max_age=FLOW_SECONDS)
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 4
            and all(isinstance(part, str) for part in value)):
        return None
    state, nonce, verifier, target = value
    return Login(state=state, nonce=nonce, code_verifier=verifier), safe_next(target)


@router.get(CALLBACK_PATH)
def sso_callback(request: Request, db: WebDb, session: WebSessionDep, now: NowDep,
                 settings: SettingsDep, code: str | None = None, state: str | None = None,
                 error: str | None = None) -> Response:
    client = _client(settings)
    provider = settings.oidc.provider_name
    started = _login_of(request, settings)
    if started is None or not started[0].state_matches(state):
        log.warning("single sign-on refused: %s", "no sign-in in progress" if started is None
                    else "the state does not match")
        return _refused(request, 400, "Sign-in not completed",
                        "This sign-in expired, was already used or was started in another"
                        " browser. Start again from the sign-in page.")
    login, target = started
    if error or not code:
        log.warning("single sign-on refused by the provider: %s", error or "no code")
        return _refused(request, 401, "Not signed in",
                        f"{provider} did not sign you in ({(error or 'no code')[:100]}).")
    try:
        signed_in = client.finish(code=code[:2000], login=login)
    except OidcError as exc:
        log.warning("single sign-on refused: %s", exc)
        return _refused(request, 401, "Not signed in",
                        f"The answer from {provider} could not be trusted, so nobody was"
                        " signed in. Start again from the sign-in page.")
    try:
        matched = match_account(db, claims=signed_in.claims, match=settings.oidc.match,
                                provider=provider)
    except SingleSignOnRefused as exc:
        # The refusal's audit record is committed with this page.
        return _refused(request, 403, "No account for this sign-in", exc.detail)
    if session.session_id is not None and session.actor is not None:
        sign_out(db, session.session_id, actor=session.actor, now=now)
    new = sign_in_with_sso(db, user_id=matched.user_id, actor=matched.actor, now=now,
                           settings=settings, id_token=signed_in.id_token)
    replace_session(request, WebSession(new.csrf_seed, new.session_id, new.actor))
    # Committed before answering: the browser follows the redirect at once, and the
    # session must be there when it does.
    end_now(db)
    response = redirect(request, target)
    response.delete_cookie(FLOW_COOKIE, path="/signin/sso")
    return response
