"""API tokens: random secrets shown once, stored as SHA-256, checked in constant time.

What a token may reach depends on its role (see ``app.access.Actor``):

=============  ==========================  ==================================
role           limited by                  notes
=============  ==========================  ==================================
admin          nothing                     sites/studies refused
edc            studies (at least one)      at all their sites; sites refused
coordinator    sites (at least one)        studies optional, narrows further
monitor        studies (at least one)      read only; sites optional
=============  ==========================  ==================================

The secret never leaves this module except as the return value of ``create_token``;
what is stored, logged and audited is the token's name.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.access import Actor, Role, scoped_actor
from app.errors import AlreadyExists, InvalidRequest, NotAuthenticated, NotFound
from app.models import ApiToken, Site, Study, User
from app.schedule.names import CODE_PATTERN
from app.services.audit import record_audit
from app.statements import Prepared

TOKEN_PREFIX = "fu_"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,99}$"
BOOTSTRAP_NAME = "admin"

_NAME = re.compile(NAME_PATTERN)
_CODE = re.compile(CODE_PATTERN)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_secret() -> str:
    # 32 random bytes, URL-safe: 43 characters after the prefix.
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenGrant(Protocol):
    """What an actor is made of: a stored token, or a row of its columns."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def sites(self) -> Sequence[str] | None: ...
    @property
    def studies(self) -> Sequence[str] | None: ...


def actor_of(token: TokenGrant) -> Actor:
    """The actor a stored service token stands for (see :func:`app.access.scoped_actor`:
    it fails closed)."""
    return scoped_actor(token.name, Role(token.role), token.sites, token.studies,
                        token=token.name)


class PersonalGrant(TokenGrant, Protocol):
    """A token row joined with its user's (all None for a service token)."""

    @property
    def user_id(self) -> int | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def display_name(self) -> str | None: ...
    @property
    def user_role(self) -> str | None: ...
    @property
    def user_sites(self) -> Sequence[str] | None: ...
    @property
    def user_studies(self) -> Sequence[str] | None: ...
    @property
    def disabled_at(self) -> datetime | None: ...


def token_actor(row: PersonalGrant) -> Actor:
    """The actor of a token: a personal token acts as its user (the user's role and
    scope today, whatever they were when it was made); NotAuthenticated once the user
    is disabled."""
    if row.user_id is None:
        return actor_of(row)
    if row.disabled_at is not None or row.username is None or row.user_role is None:
        raise NotAuthenticated("invalid or expired token")
    return scoped_actor(row.name, Role(row.user_role), row.user_sites, row.user_studies,
                        user=row.username, display_name=row.display_name, token=row.name)


def is_active(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> bool:
    """A token (API or feed maker) counts while it is neither revoked nor expired."""
    return revoked_at is None and (expires_at is None or expires_at > now)


# A token's columns with its user's (a personal token's), as token_actor reads them.
GRANT_COLUMNS = (
    ApiToken.name, ApiToken.role, ApiToken.sites, ApiToken.studies, ApiToken.revoked_at,
    ApiToken.expires_at, ApiToken.user_id, User.username, User.display_name,
    User.role.label("user_role"), User.sites.label("user_sites"),
    User.studies.label("user_studies"), User.disabled_at,
)



class _FoundToken(NamedTuple):
    """A token found by its hash, as ``_TOKEN_BY_HASH`` reads it: a plain tuple, since a
    database row's attributes are looked up by name on every access."""

    token_hash: str
    name: str
    role: str
    sites: list[str] | None
    studies: list[str] | None
    revoked_at: datetime | None
    expires_at: datetime | None
    user_id: int | None
    username: str | None
    display_name: str | None
    user_role: str | None
    user_sites: list[str] | None
    user_studies: list[str] | None
    disabled_at: datetime | None


_TOKEN_BY_HASH = Prepared(
    select(ApiToken.token_hash, *GRANT_COLUMNS)
    .outerjoin(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)


def authenticate(session: Session, raw: str, *, now: datetime) -> Actor:
    """The actor behind a bearer token at ``now``, or NotAuthenticated (never saying why)."""
    return authenticate_digest(session, hash_token(raw), now=now)


def authenticate_digest(session: Session, digest: str, *, now: datetime) -> Actor:
    """The same check for a caller that keeps only the token's SHA-256 (a web session)."""
    # Every request runs this: a statement built once, read as a plain row.
    found = _TOKEN_BY_HASH.first(session, {"digest": digest})
    if found is None:
        raise NotAuthenticated("invalid or expired token")
    token = _FoundToken._make(found)
    # The lookup is by hash; compare again in constant time before trusting it.
    if not hmac.compare_digest(token.token_hash, digest):
        raise NotAuthenticated("invalid or expired token")
    if not is_active(token.revoked_at, token.expires_at, now):
        raise NotAuthenticated("invalid or expired token")
    return token_actor(token)


@dataclass(frozen=True, slots=True)
class TokenView:
    """What may be shown about a token: never its secret, never its hash."""

    name: str
    role: str
    sites: tuple[str, ...]
    studies: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def active_at(self, now: datetime) -> bool:
        return is_active(self.revoked_at, self.expires_at, now)


@dataclass(frozen=True, slots=True)
class NewToken:
    token: TokenView
    secret: str  # shown once, to whoever created it


def view_of(token: ApiToken) -> TokenView:
    return TokenView(
        name=token.name,
        role=token.role,
        sites=tuple(token.sites or ()),
        studies=tuple(token.studies or ()),
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
    )


def codes_of(values: Sequence[str], kind: str) -> list[str]:
    codes = sorted(set(values))
    for code in codes:
        if not _CODE.match(code):
            raise InvalidRequest(f'"{code}" is not a valid {kind} code', field=f"{kind}s")
    return codes


def check_scope(role: Role, sites: list[str], studies: list[str], *,
                what: str = "token") -> None:
    if role is Role.ADMIN and (sites or studies):
        raise InvalidRequest(f"an admin {what} reaches everything: give it no sites or studies")
    if role is Role.EDC and sites:
        raise InvalidRequest(f"an edc {what} covers its studies at all their sites:"
                             " give no sites")
    if role is Role.COORDINATOR and not sites:
        raise InvalidRequest(f"a coordinator {what} needs at least one site", field="sites")
    if role in (Role.EDC, Role.MONITOR) and not studies:
        article = "an" if role is Role.EDC else "a"
        raise InvalidRequest(f"{article} {role.value} {what} needs at least one study",
                             field="studies")


def check_known(session: Session, sites: list[str], studies: list[str]) -> None:
    if sites:
        known = set(session.scalars(select(Site.code).where(Site.code.in_(sites))))
        missing = [code for code in sites if code not in known]
        if missing:
            raise InvalidRequest(f"unknown site(s): {', '.join(missing)}", field="sites")
    if studies:
        known = set(session.scalars(select(Study.code).where(Study.code.in_(studies))))
        missing = [code for code in studies if code not in known]
        if missing:
            raise InvalidRequest(f"unknown study(ies): {', '.join(missing)}", field="studies")


def create_token(
    session: Session,
    *,
    actor: Actor,
    role: Role | str,
    sites: Sequence[str] = (),
    studies: Sequence[str] = (),
    name: str | None = None,
    expires_at: datetime | None = None,
    now: datetime,
) -> NewToken:
    """Create a token and return it with its secret (the only time the secret exists).

    ``expires_at``, when given, must be after ``now``.
    """
    actor.require_admin()
    try:
        role = Role(role)
    except ValueError as exc:
        choices = ", ".join(r.value for r in Role)
        raise InvalidRequest(f'unknown role "{role}"; use one of {choices}', field="role") from exc
    site_codes, study_codes = codes_of(sites, "site"), codes_of(studies, "study")
    check_scope(role, site_codes, study_codes)
    check_known(session, site_codes, study_codes)
    if name is None:
        name = f"{role.value}-{secrets.token_hex(4)}"
    if not _NAME.match(name):
        raise InvalidRequest(
            "a token name is 1-100 letters, digits, _ . @ - and starts with a letter or digit",
            field="name",
        )
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidRequest("expires_at needs a UTC offset", field="expires_at")
        if expires_at <= now:
            raise InvalidRequest("expires_at is in the past", field="expires_at")
    if session.scalars(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
        raise AlreadyExists(f"a token named {name} already exists")
    secret = new_secret()
    token = ApiToken(
        name=name,
        role=role.value,
        token_hash=hash_token(secret),
        sites=site_codes,
        studies=study_codes,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="token.created",
        entity="token",
        key=name,
        after={
            "role": role.value,
            "sites": site_codes,
            "studies": study_codes,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return NewToken(token=view_of(token), secret=secret)


def list_tokens(session: Session, *, actor: Actor) -> list[TokenView]:
    actor.require_admin()
    return [view_of(t) for t in session.scalars(select(ApiToken).order_by(ApiToken.name))]


def get_token(session: Session, *, actor: Actor, name: str) -> TokenView:
    actor.require_admin()
    return view_of(_load(session, name))


def _load(session: Session, name: str) -> ApiToken:
    token = session.scalars(select(ApiToken).where(ApiToken.name == name)).first()
    if token is None:
        raise NotFound(f"no token named {name}")
    return token


def revoke_token(session: Session, *, actor: Actor, name: str, now: datetime) -> TokenView:
    """Revoke a token from ``now`` on. Revoking it again changes nothing."""
    actor.require_admin()
    token = _load(session, name)
    if token.revoked_at is None:
        token.revoked_at = now
        session.flush()
        record_audit(
            session,
            actor=actor,
            action="token.revoked",
            entity="token",
            key=name,
            before={"revoked_at": None},
            after={"revoked_at": token.revoked_at.isoformat()},
        )
    return view_of(token)


def has_active_admin(session: Session, *, now: datetime) -> bool:
    rows = session.scalars(
        select(ApiToken).where(ApiToken.role == Role.ADMIN.value, ApiToken.revoked_at.is_(None),
                               ApiToken.user_id.is_(None))  # a person's token is theirs
    )
    return any(t.expires_at is None or t.expires_at > now for t in rows)


def bootstrap_admin(session: Session, *, actor: Actor, now: datetime) -> NewToken | None:
    """The first admin token, or None when an active admin token exists at ``now``."""
    if has_active_admin(session, now=now):
        return None
    taken = session.scalars(select(ApiToken.id).where(ApiToken.name == BOOTSTRAP_NAME)).first()
    name = BOOTSTRAP_NAME if taken is None else f"{BOOTSTRAP_NAME}-{secrets.token_hex(4)}"
    return create_token(session, actor=actor, role=Role.ADMIN, name=name, now=now)
