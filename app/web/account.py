"""The signed-in person's own API tokens: made here (the secret shown once), revoked here.

Only for a person signed in with their password: a token session has no person to act as.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.access import Actor
from app.errors import FollowupError
from app.services.accounts.personal_tokens import (
    create_personal_token,
    list_personal_tokens,
    revoke_personal_token,
)
from app.services.tokens import NAME_PATTERN
from app.web.deps import CheckedForm, NowDep, WebActor, WebDb, field
from app.web.forms import FormPage
from app.web.notices import notice_text
from app.web.rendering import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

TOKENS = "/account/tokens"


def _page(db: WebDb, actor: Actor, **extra: object) -> FormPage:
    tokens = list_personal_tokens(db, actor=actor)
    return FormPage("account_tokens.html", {"nav": "tokens", "tokens": tokens,
                                            "created": None, **extra})


@router.get(TOKENS)
def tokens_page(request: Request, db: WebDb, actor: WebActor, now: NowDep,
                notice: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    page = _page(db, actor, notice=notice_text(notice), now=now)
    return render(request, page.template, dict(page.context))


@router.post(TOKENS)
def create_token(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                 now: NowDep) -> Response:
    label = field(form, "label", limit=60)
    try:
        with db.begin_nested():
            created = create_personal_token(db, actor=actor, label=label, now=now)
    except FollowupError as exc:
        return _page(db, actor, now=now).refused(request, exc)
    # Shown once, on this response only: only its hash is stored.
    page = _page(db, actor, now=now, created=created)
    return render(request, page.template, dict(page.context), status=201)


@router.post(TOKENS + "/{name}/revoke")
def revoke_token(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                 name: Annotated[str, Path(pattern=NAME_PATTERN, max_length=100)],
                 now: NowDep) -> Response:
    revoke_personal_token(db, actor=actor, name=name, now=now)
    return redirect(request, TOKENS, notice="token-revoked")
