"""The electronic signature on the forms that need one (21 CFR Part 11).

Correcting a recorded visit, marking visits missed, recording a death, a withdrawal or
a screen failure, and applying an amendment ask a person signed in with their password
for that password again (beside the form's reason), and so do correcting or removing
such an event:
:func:`signed_submit` checks it before the change runs, and
the change's audit record holds the signature (meaning, printed name, username, time).

A wrong password shows the form again with what was typed (never the password) and
nothing of the change written; the failure itself is counted as a failed sign-in, so the
request's transaction is committed with the refusal, as the sign-in form's is.

A session opened with an API token (a service's or a personal one) has no password to
give: the form says so, and the change is recorded as the same request over the API
would be, under the token's name and the reason, unsigned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.access import Actor
from app.errors import FollowupError
from app.schedule.lifecycle import EventType
from app.services.accounts.signatures import PASSWORD_FIELD, can_sign, sign
from app.signatures import Meaning, Signature
from app.web.forms import FormPage, submit

# The events a person signs, with a reason, when recording them (and when correcting or
# removing them) on the pages.
SIGNED_EVENTS = frozenset({EventType.DEATH, EventType.WITHDRAWAL,
                           EventType.SCREEN_FAILURE})


@dataclass(frozen=True, slots=True)
class Signing:
    """What a form shows of the signature it asks for (the macro ``signature``)."""

    meaning: str
    can_sign: bool
    printed_name: str | None
    username: str | None
    token: str | None
    field: str = PASSWORD_FIELD


def signing_of(actor: Actor, meaning: Meaning) -> Signing:
    return Signing(meaning=meaning.value, can_sign=can_sign(actor),
                   printed_name=actor.display_name, username=actor.user, token=actor.token)


def signature_of(request: Request, db: Session, actor: Actor, form: FormData,
                 meaning: Meaning, now: datetime) -> Signature | None:
    """The signature the form carries, None for a session opened with a token; a
    FollowupError (shown on the form) when the password is missing or wrong."""
    actor.require_write()
    if not can_sign(actor):
        return None
    password = form.get(PASSWORD_FIELD)
    return sign(db, actor=actor, password=password if isinstance(password, str) else "",
                meaning=meaning, address=request.client.host if request.client else None,
                now=now)


def signed_submit(request: Request, db: Session, actor: Actor, page: FormPage,
                  form: FormData, meaning: Meaning, now: datetime,
                  change: Callable[[Signature | None], Response]) -> Response:
    """:func:`app.web.forms.submit`, the signature checked first (outside the change's
    SAVEPOINT: a wrong password's failure counts though nothing is written). A read-only
    actor gets the "Not allowed" page, as from :func:`submit`."""
    actor.require_write()
    try:
        signature = signature_of(request, db, actor, form, meaning, now)
    except FollowupError as exc:
        return page.refused(request, exc)
    return submit(request, db, actor, page, lambda: change(signature))
