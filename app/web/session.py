"""The browser session: one signed cookie, and CSRF tokens tied to it.

The cookie holds no secret of the API token, only its SHA-256 (what the database stores),
so a leaked cookie cannot be replayed against the API. Each request looks the token up
again, which makes revocation and expiry take effect at once.

CSRF uses the synchronizer-token pattern: every session carries a random seed; forms
carry that seed signed with another salt; a POST is accepted only when its form token
unsigns to the seed of the session that sent it. Signing in starts a new seed, so a
token captured before sign-in is useless afterwards.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace

from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.settings import Settings

COOKIE_NAME = "followup_session"
SESSION_MAX_AGE = 12 * 3600  # a working day; then sign in again
CSRF_MAX_AGE = SESSION_MAX_AGE
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class WebSession:
    csrf_seed: str
    token_hash: str | None = None  # SHA-256 of the API token; None when signed out
    token_name: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.token_hash is not None

    def signed_in_as(self, *, token_hash: str, token_name: str) -> WebSession:
        return WebSession(new_seed(), token_hash, token_name)

    def signed_out(self) -> WebSession:
        return replace(self, csrf_seed=new_seed(), token_hash=None, token_name=None)


def new_seed() -> str:
    return secrets.token_urlsafe(24)


def anonymous() -> WebSession:
    return WebSession(new_seed())


class SessionCodec:
    """Signs and reads the session cookie and the CSRF form tokens."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.secret_key.get_secret_value()
        self._cookies = URLSafeTimedSerializer(secret, salt="followup.web.session")
        self._csrf = URLSafeTimedSerializer(secret, salt="followup.web.csrf")
        self.secure = settings.cookie_secure

    def dumps(self, session: WebSession) -> str:
        return self._cookies.dumps([session.csrf_seed, session.token_hash, session.token_name])

    def loads(self, cookie: str | None) -> WebSession | None:
        """The session in a cookie, or None when absent, forged or too old."""
        if not cookie:
            return None
        try:
            value = self._cookies.loads(cookie, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)):
            return None
        seed, token_hash, name = value
        if not (token_hash is None or isinstance(token_hash, str)):
            return None
        return WebSession(seed, token_hash, name if isinstance(name, str) else None)

    def csrf_token(self, session: WebSession) -> str:
        return self._csrf.dumps(session.csrf_seed)

    def csrf_valid(self, session: WebSession, token: str | None) -> bool:
        if not token:
            return False
        try:
            seed = self._csrf.loads(token, max_age=CSRF_MAX_AGE)
        except BadSignature:
            return False
        return isinstance(seed, str) and hmac.compare_digest(seed, session.csrf_seed)
