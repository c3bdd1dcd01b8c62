"""The browser session: one signed cookie naming a session kept on the server, and CSRF
tokens tied to that session.

Signed in, the cookie holds only the random id of a session kept in the database
(:mod:`app.services.web_sessions`), never anything of the API token; the database keeps
only the id's SHA-256, so no value stored there can be turned into a cookie. Each page
looks the session up again: signing out, revoking or expiring the token, the idle
timeout and the absolute limit all end it at once, for every copy of the cookie.
Signed out, the cookie holds only the CSRF seed of the sign-in form.

CSRF uses the synchronizer-token pattern: every session carries a random seed (kept with
the server-side session once signed in); forms carry that seed signed with another salt;
a POST is accepted only when its form token unsigns to the seed of the session that sent
it. Signing in starts a new seed, so a token captured before sign-in is useless afterwards.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.access import Actor
from app.services.web_sessions import new_csrf_seed
from app.settings import Settings

COOKIE_NAME = "followup_session"
CSRF_FIELD = "csrf_token"
# What the signed cookie holds: ["in", session id] or ["out", CSRF seed].
_SIGNED_IN, _SIGNED_OUT = "in", "out"


@dataclass(frozen=True, slots=True)
class WebSession:
    csrf_seed: str
    session_id: str | None = None  # the server-side session's random id; None signed out
    actor: Actor | None = None  # who the session signed in as, checked on this request
    must_change_password: bool = False  # a new or reset account: only /password is open

    @property
    def signed_in(self) -> bool:
        return self.actor is not None

    def signed_out(self) -> WebSession:
        return anonymous()


@dataclass(frozen=True, slots=True)
class Cookie:
    """What a genuine cookie says: the id of a server-side session, or (signed out) the
    seed of the sign-in form's CSRF token."""

    session_id: str | None = None
    csrf_seed: str | None = None


def anonymous() -> WebSession:
    return WebSession(new_csrf_seed())


class SessionCodec:
    """Signs and reads the session cookie and the CSRF form tokens."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.secret_key.get_secret_value()
        self._cookies = URLSafeTimedSerializer(secret, salt="followup.web.session")
        self._csrf = URLSafeTimedSerializer(secret, salt="followup.web.csrf")
        self.secure = settings.cookie_secure
        # No cookie or form outlives the longest session.
        self.max_age = settings.web_session_max_hours * 3600

    def dumps(self, session: WebSession) -> str:
        if session.session_id is not None:
            return self._cookies.dumps([_SIGNED_IN, session.session_id])
        return self._cookies.dumps([_SIGNED_OUT, session.csrf_seed])

    def loads(self, cookie: str | None) -> Cookie | None:
        """What a cookie says, or None when it is absent, forged or too old."""
        if not cookie:
            return None
        try:
            value = self._cookies.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return None
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], str)
                and value[1]):
            return None
        kind, text = value
        if kind == _SIGNED_IN:
            return Cookie(session_id=text)
        if kind == _SIGNED_OUT:
            return Cookie(csrf_seed=text)
        return None

    def csrf_token(self, session: WebSession) -> str:
        return self._csrf.dumps(session.csrf_seed)

    def csrf_valid(self, session: WebSession, token: str | None) -> bool:
        if not token:
            return False
        try:
            seed = self._csrf.loads(token, max_age=self.max_age)
        except BadSignature:
            return False
        return isinstance(seed, str) and hmac.compare_digest(seed, session.csrf_seed)
