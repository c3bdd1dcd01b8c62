"""Who is signed in: the API token behind a browser session, looked up by its hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.access import Actor
from app.services.tokens import authenticate, authenticate_digest, hash_token


def sign_in(session: Session, raw: str, *, now: datetime) -> tuple[Actor, str]:
    """Check a pasted API token exactly as the API does; the session keeps only its hash."""
    actor = authenticate(session, raw, now=now)
    return actor, hash_token(raw)


def authenticate_hashed(session: Session, digest: str, *, now: datetime) -> Actor:
    """The actor of the token whose hash the session holds, if it is still valid (the
    API's own rule: revoked or expired tokens are refused, without saying which)."""
    return authenticate_digest(session, digest, now=now)
