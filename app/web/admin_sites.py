"""Sites, for an admin: the list with their time zone, digest time and studies; a site
created, changed (name, time zone, digest time) or linked to a study. Everyone else gets
the "Not allowed" page, as from the API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.access import Actor
from app.errors import FollowupError
from app.services import sites as site_service
from app.services.studies import list_studies
from app.web.deps import CheckedForm, Code, WebActor, WebDb, field
from app.web.forms import FormPage
from app.web.rendering import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

SITES = "/admin/sites"
_NEW = ("code", "name", "time_zone", "digest_time")
MESSAGES = {
    "site-created": "Site {site} created.",
    "site-updated": "Site {site} saved; its statuses and digest follow its time zone.",
    "site-unchanged": "Site {site} was already so; nothing changed.",
    "site-linked": "Site {site} takes part in the study.",
    "site-already-linked": "Site {site} already took part in the study.",
}


def _page(db: WebDb, actor: Actor, **extra: Any) -> FormPage:
    actor.require_admin()
    return FormPage("admin_sites.html", {
        "nav": "admin-sites", "sites": site_service.list_sites(db, actor=actor),
        "studies": [s.code for s in list_studies(db, actor=actor)],
        "values": dict.fromkeys(_NEW, "") | {"digest_time": "07:00"}, "editing": None,
        **extra,
    })


@router.get(SITES)
def sites_page(request: Request, db: WebDb, actor: WebActor,
               notice: Annotated[str | None, Query(max_length=40)] = None,
               site: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,39}$",
                                                 max_length=40)] = None) -> Response:
    message = MESSAGES.get(notice or "")
    page = _page(db, actor, notice=message.format(site=site) if message and site else None)
    return render(request, page.template, dict(page.context))


@router.post(SITES)
def create_site(request: Request, db: WebDb, actor: WebActor, form: CheckedForm) -> Response:
    values = {name: field(form, name, limit=200) for name in _NEW}
    try:
        with db.begin_nested():
            made = site_service.create_site(
                db, actor=actor, code=values["code"], name=values["name"],
                time_zone=values["time_zone"], digest_time=values["digest_time"] or "07:00")
    except FollowupError as exc:
        return _page(db, actor, values=values).refused(request, exc)
    return redirect(request, SITES, notice="site-created", site=made.code)


@router.post(SITES + "/{site}")
def update_site(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                site: Code) -> Response:
    values = {name: field(form, name, limit=200) for name in _NEW[1:]}
    try:
        with db.begin_nested():
            before = site_service.get_site(db, code=site, actor=actor)
            after = site_service.update_site(
                db, actor=actor, code=site, name=values["name"] or None,
                time_zone=values["time_zone"] or None,
                digest_time=values["digest_time"] or None)
    except FollowupError as exc:
        return _page(db, actor, editing=site, edit_values=values).refused(request, exc)
    changed = (before.name, before.time_zone, before.digest_time) != (
        after.name, after.time_zone, after.digest_time)
    return redirect(request, SITES, notice="site-updated" if changed else "site-unchanged",
                    site=site)


@router.post(SITES + "/{site}/studies")
def link_site(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
              site: Code) -> Response:
    study = field(form, "study", limit=40)
    try:
        with db.begin_nested():
            linked = site_service.link_site(db, actor=actor, study=study, site=site)
    except FollowupError as exc:
        return _page(db, actor, editing=site).refused(request, exc)
    return redirect(request, SITES,
                    notice="site-linked" if linked.created else "site-already-linked",
                    site=site)
