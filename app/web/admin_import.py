"""Subjects imported from a CSV file, for an admin: the file uploaded starts an import job
(the CLI's import, all or nothing or the good rows only, in a worker thread of the
server) and its page shows how far it got, then every bad row by line and column. A job
is seen only by the one who started it. Everyone else gets the "Not allowed" page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from starlette.datastructures import UploadFile

from app.access import Actor
from app.deps import end_now
from app.errors import InvalidRequest
from app.services.bulk.csv_import import REQUIRED
from app.services.bulk.jobs import JobState, count_rows, get_job, recent_jobs, start_job
from app.services.studies import describe_study
from app.web.deps import CheckedForm, Code, NowDep, WebActor, WebDb
from app.web.forms import FormPage
from app.web.import_runner import ImportRunner, lines_of
from app.web.rendering import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

JobId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# How often the page of a running import asks again, in seconds.
REFRESH_SECONDS = 2


def runner_of(request: Request) -> ImportRunner:
    runner: ImportRunner = request.app.state.import_runner
    return runner


def _page(request: Request, db: WebDb, actor: Actor, study: str, now: NowDep,
          **extra: Any) -> FormPage:
    actor.require_admin()
    described = describe_study(db, code=study, actor=actor)
    anchors = [a.name for a in described.plan.protocol.anchors if a.name != "consent"]
    runner = runner_of(request)
    jobs = recent_jobs(db, actor=actor, study_code=described.study.code,
                       runner=runner.runner_id, live=runner.live, now=now)
    return FormPage("admin_import.html", {
        "nav": "studies", "d": described, "columns": [*REQUIRED, *anchors], "anchors": anchors,
        "jobs": jobs, **extra,
    })


@router.get("/studies/{study}/import")
def import_page(request: Request, db: WebDb, actor: WebActor, study: Code,
                now: NowDep) -> Response:
    page = _page(request, db, actor, study, now)
    return render(request, page.template, dict(page.context))


@router.post("/studies/{study}/import")
def import_file(request: Request, db: WebDb, actor: WebActor, form: CheckedForm, study: Code,
                now: NowDep) -> Response:
    actor.require_admin()
    upload = form.get("file")
    skip_invalid = form.get("skip_invalid") == "yes"
    if not isinstance(upload, UploadFile) or not upload.filename:
        problem = InvalidRequest("choose a CSV file", field="file")
        return _page(request, db, actor, study, now).refused(request, problem)
    data = upload.file.read()
    runner = runner_of(request)
    job_id = start_job(db, actor=actor, study_code=study, file_name=upload.filename,
                       skip_invalid=skip_invalid, total_rows=count_rows(lines_of(data)),
                       runner=runner.runner_id, now=now)
    end_now(db)  # the job's row is there (committed) before its thread looks for it
    runner.start(job_id, data=data, study_code=study, actor=actor, skip_invalid=skip_invalid)
    return redirect(request, f"/studies/{study}/import/{job_id}")


@router.get("/studies/{study}/import/{job_id}")
def import_job_page(request: Request, db: WebDb, actor: WebActor, study: Code, job_id: JobId,
                    now: NowDep) -> Response:
    actor.require_admin()
    runner = runner_of(request)
    job = get_job(db, actor=actor, study_code=study, job_id=job_id, runner=runner.runner_id,
                  live=runner.live, now=now)
    # A running job's page asks again by itself (a meta refresh: no script needed).
    return render(request, "admin_import_job.html", {
        "nav": "studies", "study": study, "job": job,
        "refresh": REFRESH_SECONDS if job.state is JobState.RUNNING else None,
    })
