"""Forms that change data: one way to make the change, or show the form again refused.

Every form that writes posts through :func:`submit`. The change runs inside a SAVEPOINT
of the request's transaction; when a service refuses it (a domain error), everything it
wrote is undone there, and the form is shown again with the values typed and the
service's message, with the status the API gives the same refusal (409 for a conflict,
422 for an invalid value, 403, 404 ...). It is the one place where a refused form's change
is undone; anything else a form raises leaves the route, and the session dependency rolls
the whole request back before the error page is shown (see app.web.rendering).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import Request, Response
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import FollowupError, InvalidRequest
from app.problems import challenge, status_of
from app.web.rendering import render


@dataclass(frozen=True, slots=True)
class FormPage:
    """A form as it was posted: its template, and the context that shows it again (with
    the values typed)."""

    template: str
    context: Mapping[str, Any]

    def refused(self, request: Request, exc: FollowupError, *,
                message: str | None = None) -> Response:
        """The form again, with ``message`` (the service's own by default) and the
        status of ``exc``."""
        status = status_of(exc)
        return render(request, self.template,
                      {**self.context, "error": exc.detail if message is None else message},
                      status=status, headers=challenge(status))


def submit(request: Request, db: Session, actor: Actor, page: FormPage,
           change: Callable[[], Response]) -> Response:
    """Run ``change`` (which calls the services and returns the page to answer with), or
    show ``page`` again with the refusal, nothing of the change kept.

    A read-only token is refused before anything runs: it gets the "Not allowed" page,
    as on every form's address.
    """
    actor.require_write()
    try:
        with db.begin_nested():  # rolled back to here, and re-raised, on any error
            return change()
    except FollowupError as exc:
        return page.refused(request, exc)


def parse_date(text: str, what: str) -> date:
    """A form's date field, or a refusal the form shows."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(f"{what}: enter a date as YYYY-MM-DD") from exc
