"""Signing a change with the password again (21 CFR Part 11 electronic signatures).

Only a person signed in with their own password can sign: a browser session opened with
an API token (a service's or a personal one), like a request over the API, has no
password to give, and its change is recorded under the token's name and the reason, as
over the API. The password is checked as at sign-in (:mod:`.signin`): a wrong one counts
as a failed attempt under the account and the client address, and while a wait or lock
runs the signature is refused without the password being looked at.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import Forbidden, InvalidRequest, NotAuthenticated
from app.services.accounts.signin import check_password_sign_in
from app.signatures import Meaning, Signature

PASSWORD_FIELD = "signature_password"
WRONG_PASSWORD = "that password is not right: nothing was signed or saved"


def can_sign(actor: Actor) -> bool:
    """Whether the actor is a person signed in with their password."""
    return actor.user is not None and actor.token is None


def sign(session: Session, *, actor: Actor, password: str, meaning: Meaning,
         address: str | None, now: datetime) -> Signature:
    """The actor's signature, with ``meaning``, once their password is checked again.

    A wrong password raises InvalidRequest (on the field :data:`PASSWORD_FIELD`) after
    counting the failure in the caller's transaction: the edge must answer the refusal
    with that transaction committed, the change itself undone or never made.
    """
    if not can_sign(actor) or actor.user is None:
        raise Forbidden("only a person signed in with their own password can sign: sign in"
                        " with your username and password")
    if not password:
        raise InvalidRequest("enter your password to sign", field=PASSWORD_FIELD)
    try:
        checked = check_password_sign_in(session, username=actor.user, password=password,
                                         address=address, now=now)
    except NotAuthenticated as exc:
        raise InvalidRequest(WRONG_PASSWORD, field=PASSWORD_FIELD) from exc
    person = checked.actor
    return Signature(meaning=meaning, printed_name=person.display_name or person.name,
                     user=person.user or actor.user, signed_at=now)
