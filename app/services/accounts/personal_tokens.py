"""Personal API tokens: made by a person signed in with their password, acting as them.

A personal token is named ``<username>.<label>`` and has no role or scope of its own:
each request through it acts with its user's role, sites and studies of that moment
(:func:`app.services.tokens.token_actor`), and the audit trail names the user and the
token. Disabling the user revokes them all. The secret is shown once, as for any token.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound
from app.models import ApiToken, User
from app.services.accounts.users import load_user
from app.services.audit import record_audit
from app.services.tokens import NewToken, TokenView, hash_token, new_secret, view_of

LABEL_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,38}$"
_LABEL = re.compile(LABEL_PATTERN)


def _person(session: Session, actor: Actor) -> User:
    if actor.user is None or actor.token is not None:
        raise Forbidden("personal tokens are managed by a person signed in with their password")
    return load_user(session, actor.user)


def create_personal_token(session: Session, *, actor: Actor, label: str,
                          expires_at: datetime | None = None, now: datetime) -> NewToken:
    """A token acting as the signed-in person, with its secret (shown this once)."""
    user = _person(session, actor)
    label = label.strip().lower()
    if not _LABEL.match(label):
        raise InvalidRequest("a token label is 1-39 lowercase letters, digits, _ -",
                             field="label")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
        raise InvalidRequest("expires_at must be a future instant with a UTC offset",
                             field="expires_at")
    name = f"{user.username}.{label}"
    if session.scalars(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
        raise AlreadyExists(f"a token named {name} already exists")
    secret = new_secret()
    token = ApiToken(name=name, role=user.role, token_hash=hash_token(secret), sites=[],
                     studies=[], expires_at=expires_at, user_id=user.id, created_at=now)
    session.add(token)
    session.flush()
    record_audit(session, actor=actor, action="token.created", entity="token", key=name,
                 after={"user": user.username, "personal": True,
                        "expires_at": expires_at.isoformat() if expires_at else None})
    return NewToken(token=view_of(token), secret=secret)


def list_personal_tokens(session: Session, *, actor: Actor) -> list[TokenView]:
    user = _person(session, actor)
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                           .order_by(ApiToken.name))
    return [view_of(t) for t in rows]


def revoke_personal_token(session: Session, *, actor: Actor, name: str,
                          now: datetime) -> TokenView:
    """Revoke one of the person's own tokens from ``now`` on (again: no change)."""
    user = _person(session, actor)
    token = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                   ApiToken.name == name)).first()
    if token is None:
        raise NotFound(f"you have no token named {name}")
    if token.revoked_at is None:
        token.revoked_at = now
        session.flush()
        record_audit(session, actor=actor, action="token.revoked", entity="token", key=name,
                     before={"revoked_at": None}, after={"revoked_at": now.isoformat()})
    return view_of(token)
