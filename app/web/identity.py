"""Who is signed in: the API token behind a browser session, looked up by its hash."""

from __future__ import annotations

import hmac
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import NotAuthenticated
from app.models import ApiToken
from app.services.access import Actor
from app.services.tokens import actor_of, authenticate, hash_token


def sign_in(session: Session, raw: str) -> tuple[Actor, str]:
    """Check a pasted API token exactly as the API does; the session keeps only its hash."""
    actor = authenticate(session, raw)
    return actor, hash_token(raw)


def authenticate_hashed(session: Session, digest: str, *, now: datetime | None = None) -> Actor:
    """The actor of the token whose SHA-256 the session holds, if it is still valid.

    The same rule as :func:`app.services.tokens.authenticate` (revoked or expired tokens
    are refused, without saying which), for a caller that holds only the hash.
    """
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        raise NotAuthenticated("invalid or expired token")
    moment = now or utcnow()
    if token.revoked_at is not None or (
        token.expires_at is not None and token.expires_at <= moment
    ):
        raise NotAuthenticated("invalid or expired token")
    return actor_of(token)
