"""API tokens, for an admin: list, create (the secret shown once), revoke. Everyone else
gets the "Not allowed" page, as from the API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.access import Actor, Role
from app.errors import FollowupError
from app.services import tokens as token_service
from app.services.tokens import NAME_PATTERN
from app.web.deps import CheckedForm, NowDep, WebActor, WebDb, field
from app.web.forms import FormPage
from app.web.notices import notice_text
from app.web.rendering import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

TOKENS = "/admin/tokens"
TokenName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=100)]
_SEPARATORS = re.compile(r"[\s,]+")
_FIELDS = ("name", "role", "sites", "studies")


def _codes(text: str) -> list[str]:
    return [code for code in _SEPARATORS.split(text.upper()) if code]


def _page(db: WebDb, actor: Actor, now: datetime, **extra: object) -> FormPage:
    return FormPage("admin_tokens.html", {
        "nav": "admin-tokens", "tokens": token_service.list_tokens(db, actor=actor),
        "roles": [r.value for r in Role], "created": None, "now": now,
        "values": dict.fromkeys(_FIELDS, ""), **extra,
    })


@router.get(TOKENS)
def tokens_page(request: Request, db: WebDb, actor: WebActor, now: NowDep,
                notice: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    page = _page(db, actor, now, notice=notice_text(notice))
    return render(request, page.template, dict(page.context))


@router.post(TOKENS)
def create_token(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                 now: NowDep) -> Response:
    values = {name: field(form, name, limit=2000) for name in _FIELDS}
    try:
        with db.begin_nested():
            created = token_service.create_token(
                db, actor=actor, role=values["role"], sites=_codes(values["sites"]),
                studies=_codes(values["studies"]), name=values["name"] or None, now=now,
            )
    except FollowupError as exc:
        return _page(db, actor, now, values=values).refused(request, exc)
    # Shown once, on this response only: only its hash is stored.
    page = _page(db, actor, now, created=created)
    return render(request, page.template, dict(page.context), status=201)


@router.post(TOKENS + "/{name}/revoke")
def revoke_token(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                 name: TokenName, now: NowDep) -> Response:
    token_service.revoke_token(db, actor=actor, name=name, now=now)
    return redirect(request, TOKENS, notice="token-revoked")
