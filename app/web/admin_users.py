"""Users, for an admin: list, create (the one-time password shown once), edit (role,
sites, studies, printed name, e-mail address), disable, enable, reset. Everyone else gets the "Not
allowed" page, as from the API."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.access import PERSON_ROLES, Actor
from app.errors import FollowupError
from app.passwords import USERNAME_PATTERN
from app.services.accounts import users as user_service
from app.services.accounts.users import NewPassword
from app.web.deps import CheckedForm, NowDep, WebActor, WebDb, field
from app.web.forms import FormPage, submit
from app.web.notices import notice_text
from app.web.rendering import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

USERS = "/admin/users"
Username = Annotated[str, Path(pattern=USERNAME_PATTERN, max_length=60)]
_SEPARATORS = re.compile(r"[\s,]+")


def _codes(text: str) -> list[str]:
    return [code for code in _SEPARATORS.split(text.upper()) if code]


def _page(db: WebDb, actor: Actor, **extra: object) -> FormPage:
    return FormPage("admin_users.html", {
        "nav": "users", "users": user_service.list_users(db, actor=actor),
        "roles": [r.value for r in PERSON_ROLES], "password": None, **extra,
    })


def _with_password(request: Request, db: WebDb, actor: Actor, made: NewPassword,
                   status: int) -> Response:
    # Shown once, on this response only: only its hash is stored.
    page = _page(db, actor, password=made)
    return render(request, page.template, dict(page.context), status=status)


@router.get(USERS)
def users_page(request: Request, db: WebDb, actor: WebActor,
               notice: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    page = _page(db, actor, notice=notice_text(notice))
    return render(request, page.template, dict(page.context))


@router.post(USERS)
def create_user(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                now: NowDep) -> Response:
    try:
        with db.begin_nested():
            made = user_service.create_user(
                db, actor=actor, username=field(form, "username", limit=100),
                display_name=field(form, "display_name", limit=300),
                email=field(form, "email", limit=320), role=field(form, "role", limit=20),
                sites=_codes(field(form, "sites")), studies=_codes(field(form, "studies")),
                now=now,
            )
    except FollowupError as exc:
        return _page(db, actor).refused(request, exc)
    return _with_password(request, db, actor, made, 201)


@router.post(USERS + "/{username}/disable")
def disable_user(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                 username: Username, now: NowDep) -> Response:
    user_service.disable_user(db, actor=actor, username=username, now=now)
    return redirect(request, USERS, notice="user-disabled")


@router.post(USERS + "/{username}/enable")
def enable_user(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                username: Username, now: NowDep) -> Response:
    user_service.enable_user(db, actor=actor, username=username, now=now)
    return redirect(request, USERS, notice="user-enabled")


@router.post(USERS + "/{username}/password-reset")
def reset_password(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                   username: Username, now: NowDep) -> Response:
    made = user_service.reset_password(db, actor=actor, username=username, now=now)
    return _with_password(request, db, actor, made, 200)


def _edit_page(db: WebDb, actor: Actor, username: str, **values: str) -> FormPage:
    user = user_service.get_user(db, actor=actor, username=username)
    shown = {"display_name": user.display_name, "role": user.role,
             "sites": ", ".join(user.sites), "studies": ", ".join(user.studies),
             "email": user.email or ""} | values
    return FormPage("admin_user.html", {
        "nav": "users", "user": user, "values": shown,
        "roles": [r.value for r in PERSON_ROLES], "error": None,
    })


@router.get(USERS + "/{username}")
def edit_user_page(request: Request, db: WebDb, actor: WebActor,
                   username: Username) -> Response:
    page = _edit_page(db, actor, username)
    return render(request, page.template, dict(page.context))


@router.post(USERS + "/{username}")
def edit_user(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
              username: Username, now: NowDep) -> Response:
    """The form's fields replace the user's role, sites, studies, printed name and e-mail
    address (an empty one removes it); one refusal keeps none of them."""
    values = {"display_name": field(form, "display_name", limit=300),
              "role": field(form, "role", limit=20), "sites": field(form, "sites"),
              "studies": field(form, "studies"), "email": field(form, "email", limit=320)}
    page = _edit_page(db, actor, username, **values)

    def change() -> Response:
        user_service.update_user(
            db, actor=actor, username=username, display_name=values["display_name"],
            role=values["role"], sites=_codes(values["sites"]),
            studies=_codes(values["studies"]), now=now,
        )
        user_service.set_email(db, actor=actor, username=username, email=values["email"],
                               now=now)
        return redirect(request, USERS, notice="user-updated")

    return submit(request, db, actor, page, change)
