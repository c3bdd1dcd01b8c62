"""Users: people who sign in with a username and a password.

Roles are a person's (admin, coordinator, monitor; ``edc`` is a machine's and stays
with API tokens), limited to sites and studies as tokens are (``tokens.check_scope``);
an admin may change them later (the last enabled admin keeps the role).
Passwords are stored as Argon2id hashes (argon2-cffi's defaults, RFC 9106). A new or
reset account gets a random one-time password, shown once, that must be changed at
the first sign-in. Disabling a user ends their browser sessions and revokes their
personal tokens at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.access import PERSON_ROLES, Actor, Role, scoped_actor
from app.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
)
from app.models import ApiToken, User, WebSessionRow
from app.passwords import check_password, normalize_username, password_problem, username_problem
from app.schedule.text import control_character_problem
from app.services.audit import record_audit
from app.services.tokens import check_known, check_scope, codes_of

HASHER = PasswordHasher()  # Argon2id


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class UserView:
    """What may be shown about a user: never a password or its hash."""

    username: str
    display_name: str
    email: str | None
    role: str
    sites: tuple[str, ...]
    studies: tuple[str, ...]
    must_change_password: bool
    created_at: datetime
    password_changed_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewPassword:
    user: UserView
    password: str  # one-time: shown once to the admin, changed at the first sign-in


def view_of(user: User) -> UserView:
    return UserView(
        username=user.username, display_name=user.display_name, email=user.email,
        role=user.role,
        sites=tuple(user.sites or ()), studies=tuple(user.studies or ()),
        must_change_password=user.must_change_password, created_at=user.created_at,
        password_changed_at=user.password_changed_at, disabled_at=user.disabled_at,
    )


def user_actor(user: User) -> Actor:
    """The actor of a user signed in with their password."""
    return scoped_actor(user.username, Role(user.role), user.sites, user.studies,
                        user=user.username, display_name=user.display_name)


def one_time_password(username: str) -> str:
    while True:
        password = secrets.token_urlsafe(15)  # 20 characters, 120 random bits
        if password_problem(password, username=username) is None:
            return password


def _display_name(text: str) -> str:
    name = text.strip()
    problem = control_character_problem(name, multiline=False)
    if not name or len(name) > 200 or problem is not None:
        raise InvalidRequest("a display name is 1-200 characters on one line",
                             field="display_name")
    return name


def _email(text: str | None) -> str | None:
    """An e-mail address as stored (lowercase), or None for none."""
    if text is None or not text.strip():
        return None
    try:
        checked = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidRequest(f"invalid e-mail address {text.strip()[:254]!r}: {exc}",
                             field="email") from None
    address = str(checked.normalized).lower()
    if len(address) > 254:
        raise InvalidRequest("an e-mail address has at most 254 characters", field="email")
    return address


def _email_free(session: Session, address: str | None, *, other_than: int | None) -> None:
    if address is None:
        return
    owner = session.scalars(select(User.id).where(User.email == address)).first()
    if owner is not None and owner != other_than:
        raise AlreadyExists(f"another user has the e-mail address {address}")


def _role(value: Role | str) -> Role:
    try:
        role = Role(value)
    except ValueError:
        role = None
    if role not in PERSON_ROLES:
        choices = ", ".join(r.value for r in PERSON_ROLES)
        raise InvalidRequest(f'a person\'s role is one of {choices} ("edc" is for tokens)',
                             field="role")
    assert role is not None
    return role


def load_user(session: Session, username: str) -> User:
    user = session.scalars(
        select(User).where(User.username == normalize_username(username))).first()
    if user is None:
        raise NotFound(f"no user named {normalize_username(username)}")
    return user


def create_user(
    session: Session, *, actor: Actor, username: str, display_name: str, role: Role | str,
    sites: Sequence[str] = (), studies: Sequence[str] = (), now: datetime,
    email: str | None = None,
) -> NewPassword:
    """Create a user with a one-time password (returned: the only time it exists)."""
    actor.require_admin()
    name = normalize_username(username)
    problem = username_problem(name)
    if problem is not None:
        raise InvalidRequest(problem, field="username")
    person_role = _role(role)
    site_codes, study_codes = codes_of(sites, "site"), codes_of(studies, "study")
    check_scope(person_role, site_codes, study_codes, what="user")
    check_known(session, site_codes, study_codes)
    printed = _display_name(display_name)
    address = _email(email)
    if session.scalars(select(User.id).where(User.username == name)).first() is not None:
        raise AlreadyExists(f"a user named {name} already exists")
    _email_free(session, address, other_than=None)
    password = one_time_password(name)
    user = User(
        username=name, display_name=printed, email=address, role=person_role.value,
        sites=site_codes,
        studies=study_codes, password_hash=hash_password(password), must_change_password=True,
        created_at=now, password_changed_at=now,
    )
    session.add(user)
    session.flush()
    record_audit(session, actor=actor, action="user.created", entity="user", key=name,
                 after={"display_name": printed, "role": person_role.value,
                        "sites": site_codes, "studies": study_codes, "email": address})
    return NewPassword(user=view_of(user), password=password)


def set_email(session: Session, *, actor: Actor, username: str, email: str | None,
              now: datetime) -> UserView:
    """Set (or, with None or "", remove) the user's e-mail address, which single sign-on
    may match (docs/accounts.md#single-sign-on)."""
    actor.require_admin()
    user = load_user(session, username)
    address = _email(email)
    _email_free(session, address, other_than=user.id)
    if address != user.email:
        before = user.email
        user.email = address
        session.flush()
        record_audit(session, actor=actor, action="user.email_changed", entity="user",
                     key=user.username, before={"email": before},
                     after={"email": address, "changed_at": now.isoformat()})
    return view_of(user)


def list_users(session: Session, *, actor: Actor) -> list[UserView]:
    actor.require_admin()
    return [view_of(u) for u in session.scalars(select(User).order_by(User.username))]


def get_user(session: Session, *, actor: Actor, username: str) -> UserView:
    actor.require_admin()
    return view_of(load_user(session, username))


def end_user_sessions(session: Session, *, user: User, now: datetime) -> None:
    """Every browser session of the user ends at ``now``: signed in with the password or
    with one of their personal tokens."""
    personal = select(ApiToken.id).where(ApiToken.user_id == user.id)
    session.execute(
        update(WebSessionRow)
        .where(or_(WebSessionRow.user_id == user.id, WebSessionRow.token_id.in_(personal)),
               WebSessionRow.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )


def disable_user(session: Session, *, actor: Actor, username: str, now: datetime) -> UserView:
    """The user can no longer sign in; their sessions end and their personal tokens are
    revoked at ``now``. Disabling again changes nothing."""
    actor.require_admin()
    user = load_user(session, username)
    if user.username == actor.user:
        raise Forbidden("an admin may not disable their own account")
    if user.disabled_at is None:
        user.disabled_at = now
        end_user_sessions(session, user=user, now=now)
        revoked = list(session.scalars(select(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))))
        for token in revoked:
            token.revoked_at = now
        session.flush()
        record_audit(session, actor=actor, action="user.disabled", entity="user",
                     key=user.username, before={"disabled_at": None},
                     after={"disabled_at": now.isoformat(),
                            "tokens_revoked": sorted(t.name for t in revoked)})
    return view_of(user)


def enable_user(session: Session, *, actor: Actor, username: str, now: datetime) -> UserView:
    """The user may sign in again (their revoked tokens stay revoked)."""
    actor.require_admin()
    user = load_user(session, username)
    if user.disabled_at is not None:
        before = user.disabled_at.isoformat()
        user.disabled_at = None
        session.flush()
        record_audit(session, actor=actor, action="user.enabled", entity="user",
                     key=user.username, before={"disabled_at": before},
                     after={"disabled_at": None, "enabled_at": now.isoformat()})
    return view_of(user)


def _keep_an_admin(session: Session, user: User) -> None:
    """Refuse to take the admin role from the last enabled admin account. The enabled
    admins' rows are locked, so two admins demoting each other at once cannot both pass."""
    admins = session.scalars(
        select(User.id).where(User.role == Role.ADMIN.value, User.disabled_at.is_(None))
        .with_for_update()
    ).all()
    if not [pk for pk in admins if pk != user.id]:
        raise Conflict(f"{user.username} is the last enabled admin: make another user an "
                       "admin first", field="role")


def update_user(
    session: Session, *, actor: Actor, username: str, role: Role | str | None = None,
    sites: Sequence[str] | None = None, studies: Sequence[str] | None = None,
    display_name: str | None = None, now: datetime,
) -> UserView:
    """Change a user's role, the sites and studies it is limited to, or printed name.

    What is not given stays, except that an admin reaches everything: made an admin, the
    user loses the sites and studies not given. The change counts from the user's next
    request: every request reads the role and scope from the account (through a browser
    session or a personal token). The last enabled admin keeps the admin role. One
    ``user.updated`` record holds the fields changed, before and after; changing nothing
    writes nothing.
    """
    actor.require_admin()
    user = load_user(session, username)
    new_role = Role(user.role) if role is None else _role(role)
    made_admin = role is not None and new_role is Role.ADMIN
    site_codes = (codes_of(sites, "site") if sites is not None
                  else [] if made_admin else list(user.sites or ()))
    study_codes = (codes_of(studies, "study") if studies is not None
                   else [] if made_admin else list(user.studies or ()))
    check_scope(new_role, site_codes, study_codes, what="user")
    check_known(session, site_codes, study_codes)
    printed = user.display_name if display_name is None else _display_name(display_name)
    before = {"display_name": user.display_name, "role": user.role,
              "sites": list(user.sites or ()), "studies": list(user.studies or ())}
    after = {"display_name": printed, "role": new_role.value, "sites": site_codes,
             "studies": study_codes}
    changed = [name for name in before if before[name] != after[name]]
    if not changed:
        return view_of(user)
    if user.role == Role.ADMIN.value and new_role is not Role.ADMIN \
            and user.disabled_at is None:
        _keep_an_admin(session, user)
    user.display_name, user.role = printed, new_role.value
    user.sites, user.studies = site_codes, study_codes
    session.flush()
    record_audit(session, actor=actor, action="user.updated", entity="user",
                 key=user.username, before={name: before[name] for name in changed},
                 after={name: after[name] for name in changed} | {
                     "updated_at": now.isoformat()})
    return view_of(user)


def reset_password(session: Session, *, actor: Actor, username: str,
                   now: datetime) -> NewPassword:
    """A new one-time password, to be changed at the next sign-in; the user's browser
    sessions end at ``now`` (their personal tokens keep working)."""
    actor.require_admin()
    user = load_user(session, username)
    password = one_time_password(user.username)
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.password_changed_at = now
    end_user_sessions(session, user=user, now=now)
    session.flush()
    record_audit(session, actor=actor, action="user.password_reset", entity="user",
                 key=user.username, after={"must_change_password": True})
    return NewPassword(user=view_of(user), password=password)


def change_password(session: Session, *, actor: Actor, current: str, new: str,
                    now: datetime) -> UserView:
    """A person changes their own password (signed in with it, not through a token)."""
    if actor.user is None or actor.token is not None:
        raise Forbidden("only a person signed in with their password may change it")
    user = load_user(session, actor.user)
    if user.disabled_at is not None:
        raise NotAuthenticated("the account is disabled")
    if not password_matches(user.password_hash, current):
        raise InvalidRequest("the current password is not right", field="current_password")
    check_password(new, username=user.username)
    if new == current:
        raise InvalidRequest("the new password must differ from the current one",
                             field="password")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.password_changed_at = now
    session.flush()
    record_audit(session, actor=actor, action="user.password_changed", entity="user",
                 key=user.username, after={"password_changed_at": now.isoformat()})
    return view_of(user)
