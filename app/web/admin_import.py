"""Subjects imported from a CSV file, for an admin: the file uploaded and enrolled through
the CLI's import (all or nothing, or the good rows only), every bad row listed by line
and column. Everyone else gets the "Not allowed" page."""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from app.access import Actor
from app.errors import InvalidRequest, InvalidRows
from app.services.bulk.csv_import import REQUIRED, import_csv
from app.services.studies import describe_study
from app.web.deps import CheckedForm, Code, NowDep, WebActor, WebDb
from app.web.forms import FormPage
from app.web.rendering import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _page(db: WebDb, actor: Actor, study: str, **extra: Any) -> FormPage:
    actor.require_admin()
    described = describe_study(db, code=study, actor=actor)
    anchors = [a.name for a in described.plan.protocol.anchors if a.name != "consent"]
    return FormPage("admin_import.html", {
        "nav": "studies", "d": described, "columns": [*REQUIRED, *anchors], "anchors": anchors,
        "result": None, "problems": [], **extra,
    })


@router.get("/studies/{study}/import")
def import_page(request: Request, db: WebDb, actor: WebActor, study: Code) -> Response:
    page = _page(db, actor, study)
    return render(request, page.template, dict(page.context))


@router.post("/studies/{study}/import")
def import_file(request: Request, db: WebDb, actor: WebActor, form: CheckedForm, study: Code,
                now: NowDep) -> Response:
    actor.require_admin()
    upload = form.get("file")
    skip_invalid = form.get("skip_invalid") == "yes"
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidRequest("choose a CSV file", field="file")
        lines = io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="")
        with db.begin_nested():
            result = import_csv(db, study_code=study, actor=actor, lines=lines,
                                skip_invalid=skip_invalid, now=now)
    except InvalidRows as exc:
        page = _page(db, actor, study, problems=exc.extra.get("errors", []))
        return page.refused(request, exc, message=f"Nothing was imported: {exc.detail}.")
    except InvalidRequest as exc:
        return _page(db, actor, study).refused(request, exc)
    page = _page(db, actor, study, result=result)
    return render(request, page.template, dict(page.context), status=201)
