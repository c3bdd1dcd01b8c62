"""Which local account a single sign-on names, or why none may sign in.

The provider's checked ID token names a person by one claim (``OIDC_MATCH``): their
username (``preferred_username``) or their e-mail address (``email``). The person signs
in only as an existing, enabled local account with that username or e-mail address,
compared without case: nothing is ever created, and the account's role, sites and
studies are the local ones. An e-mail the provider marks unverified
(``email_verified: false``) matches nothing.

A refusal is audited (``web_session.refused``, with what the provider named and why)
in the caller's transaction, which the edge commits with its refusal page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.access import SYSTEM, Actor
from app.models import User
from app.services.accounts.users import user_actor
from app.services.audit import record_audit
from app.settings import OidcMatch

log = logging.getLogger(__name__)


class SingleSignOnRefused(Exception):
    """The provider's person has no enabled local account; ``detail`` says so plainly."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SingleSignOn:
    user_id: int
    actor: Actor


def claimed_name(claims: Mapping[str, Any], match: OidcMatch) -> str | None:
    """The username or e-mail address the claims name (lowercase), or None."""
    value = claims.get(match.value)
    if not isinstance(value, str) or not value.strip():
        return None
    if match is OidcMatch.EMAIL and claims.get("email_verified") is False:
        return None
    return value.strip().lower()[:254]


def match_account(session: Session, *, claims: Mapping[str, Any], match: OidcMatch,
                  provider: str) -> SingleSignOn:
    """The enabled local account the claims name, or SingleSignOnRefused (audited)."""
    name = claimed_name(claims, match)
    user = None
    if name is not None:
        column = User.username if match is OidcMatch.USERNAME else func.lower(User.email)
        user = session.scalars(select(User).where(column == name)).first()
    if user is None or user.disabled_at is not None:
        reason = ("no account" if user is None else "account disabled")
        _refused(session, provider=provider, match=match, name=name, reason=reason)
        if name is None:
            detail = f"The sign-in did not say which {_what(match)} you have here."
        elif user is None:
            detail = (f"There is no account here with the {_what(match)} {name}. Ask an"
                      " administrator to create one; nothing was created.")
        else:
            detail = "This account is disabled. Ask an administrator."
        raise SingleSignOnRefused(detail)
    return SingleSignOn(user_id=user.id, actor=user_actor(user))


def _what(match: OidcMatch) -> str:
    return "username" if match is OidcMatch.USERNAME else "e-mail address"


def _refused(session: Session, *, provider: str, match: OidcMatch, name: str | None,
             reason: str) -> None:
    log.warning("single sign-on refused: %s (%s %r)", reason, match.value, name)
    record_audit(session, actor=SYSTEM, action="web_session.refused", entity="web_session",
                 key=name[:100] if name else None,
                 after={"with": "sso", "provider": provider, "claim": match.value,
                        "value": name, "reason": reason})
