"""Calendar feeds page: a site's private subscription URLs, created and revoked here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from app.access import Actor
from app.errors import Forbidden
from app.services import feeds
from app.services.sites import list_sites
from app.web.deps import CheckedForm, Code, NowDep, SettingsDep, WebActor, WebDb
from app.web.notices import notice_text
from app.web.rendering import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)



def _sites(db: WebDb, actor: Actor) -> list[dict[str, Any]]:
    out = []
    for site in list_sites(db, actor=actor):
        try:
            tokens = feeds.list_feed_tokens(db, site=site.code, actor=actor)
            manage = True
        except Forbidden:
            tokens, manage = [], False
        out.append({"site": site, "tokens": tokens, "manage": manage})
    return out


@router.get("/feeds")
def feeds_page(request: Request, db: WebDb, actor: WebActor,
               notice: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    return render(request, "feeds.html", {"nav": "feeds", "sites": _sites(db, actor),
                                          "created": None, "notice": notice_text(notice)})


@router.post("/feeds/{site}")
def create_feed(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                settings: SettingsDep, site: Code, now: NowDep) -> Response:
    created = feeds.create_feed_token(db, site=site, actor=actor, now=now)
    url = feeds.feed_url(settings.base_url, site, created.token)
    # Shown once, on this response only: it is not stored anywhere in clear.
    return render(request, "feeds.html", {
        "nav": "feeds", "sites": _sites(db, actor),
        "created": {"site": site, "url": url, "webcal": feeds.webcal(url)},
    }, status=201)


@router.post("/feeds/{site}/{token_id}/revoke")
def revoke_feed(request: Request, db: WebDb, actor: WebActor, form: CheckedForm, site: Code,
                token_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
                now: NowDep) -> Response:
    feeds.revoke_feed_token(db, site=site, token_id=token_id, actor=actor, now=now)
    return redirect(request, "/feeds", notice="feed-revoked")
