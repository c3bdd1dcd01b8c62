"""API tokens: random secrets shown once, stored as SHA-256, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import NotAuthenticated
from app.models import ApiToken
from app.services.access import Actor, Role

TOKEN_PREFIX = "fu_"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def actor_of(token: ApiToken) -> Actor:
    role = Role(token.role)
    sites = frozenset(token.sites) if token.sites else None
    studies = frozenset(token.studies) if token.studies else None
    return Actor(name=token.name, role=role, sites=sites, studies=studies)


def authenticate(session: Session, raw: str, *, now: datetime | None = None) -> Actor:
    """The actor behind a bearer token, or NotAuthenticated (never saying why)."""
    digest = hash_token(raw)
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    # The lookup is by hash; compare again in constant time before trusting it.
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        raise NotAuthenticated("invalid or expired token")
    moment = now or utcnow()
    if token.revoked_at is not None or (
        token.expires_at is not None and token.expires_at <= moment
    ):
        raise NotAuthenticated("invalid or expired token")
    return actor_of(token)
