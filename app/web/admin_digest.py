"""A site's digest, for an admin: its recipients (added, each for every study of the site
or one; removed) and a preview of tomorrow's email as it would be sent. Everyone else
gets the "Not allowed" page, as from the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.access import Actor
from app.errors import FollowupError
from app.services import sites as site_service
from app.services.digest import mail
from app.services.digest.content import preview_site_digest, site_local_date
from app.services.digest.recipients import add_recipient, list_recipients, remove_recipient
from app.settings import Settings
from app.web.deps import CheckedForm, Code, NowDep, SettingsDep, WebActor, WebDb, field
from app.web.forms import FormPage
from app.web.rendering import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MESSAGES = {
    "recipient-added": "The address receives the digest from its next sending.",
    "recipient-removed": "The address no longer receives the digest.",
}


def digest_url(site: str) -> str:
    return f"/admin/sites/{site}/digest"


def _page(db: WebDb, actor: Actor, site: str, now: datetime, settings: Settings,
          **extra: Any) -> FormPage:
    actor.require_admin()
    view = site_service.get_site(db, code=site, actor=actor)
    row = site_service.find_site(db, code=site, actor=actor)
    tomorrow = site_local_date(row, now) + timedelta(days=1)
    digest = preview_site_digest(db, site=site, local_date=tomorrow, now=now,
                                 base_url=settings.base_url, actor=actor)
    text, _ = mail.render(digest)
    return FormPage("admin_digest.html", {
        "nav": "admin-sites", "site": view, "recipients": list_recipients(db, site=site,
                                                                           actor=actor),
        "tomorrow": tomorrow, "subject": mail.subject_line(digest), "body": text,
        "values": {"email": "", "study": ""}, **extra,
    })


@router.get("/admin/sites/{site}/digest")
def digest_page(request: Request, db: WebDb, actor: WebActor, site: Code, now: NowDep,
                settings: SettingsDep,
                notice: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    page = _page(db, actor, site, now, settings, notice=MESSAGES.get(notice or ""))
    return render(request, page.template, dict(page.context))


@router.post("/admin/sites/{site}/digest/recipients")
def add(request: Request, db: WebDb, actor: WebActor, form: CheckedForm, site: Code,
        now: NowDep, settings: SettingsDep) -> Response:
    values = {"email": field(form, "email", limit=320), "study": field(form, "study", limit=40)}
    try:
        with db.begin_nested():
            add_recipient(db, site=site, email=values["email"], study=values["study"] or None,
                          actor=actor)
    except FollowupError as exc:
        return _page(db, actor, site, now, settings, values=values).refused(request, exc)
    return redirect(request, digest_url(site), notice="recipient-added")


@router.post("/admin/sites/{site}/digest/recipients/remove")
def remove(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
           site: Code) -> Response:
    study = field(form, "study", limit=40)
    remove_recipient(db, site=site, email=field(form, "email", limit=320),
                     study=study or None, actor=actor)
    return redirect(request, digest_url(site), notice="recipient-removed")
