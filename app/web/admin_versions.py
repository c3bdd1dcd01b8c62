"""A study's protocol versions, for an admin: the list (which one is active), a YAML file
loaded (pasted or uploaded; every problem shown by line and column), a version
activated, and a version's page: its diff from another, what moving each subject to it
would do (a dry run), and "Apply this amendment" to the whole study, one site or the
subjects listed, signed with the password again ("approved by"). Everyone else gets the
"Not allowed" page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.datastructures import FormData, UploadFile

from app.access import Actor
from app.errors import Conflict, FollowupError, InvalidRequest, ScheduleError
from app.schedule.text import control_character_problem
from app.services import studies as studies_service
from app.services.amendments import preview as preview_service
from app.services.amendments import run as run_service
from app.signatures import Meaning, Signature
from app.web.deps import CheckedForm, Code, NowDep, WebActor, WebDb, field
from app.web.forms import FormPage
from app.web.rendering import WebRoute, redirect, render
from app.web.signing import signed_submit, signing_of

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_VERSION = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,39}$"
Version = Annotated[str, Path(pattern=_VERSION, max_length=40)]
# A schedule file, whole (the API's limit).
MAX_SCHEDULE_CHARS = 500_000
# The subjects whose impact a version's page shows, in enrolment order.
IMPACT_SUBJECTS = 100
# The subject ids "Apply this amendment" may list, typed or pasted.
MAX_LISTED_CHARS = 20_000
_SEPARATORS = re.compile(r"[\s,;]+")


def versions_url(study: str) -> str:
    return f"/studies/{study}/versions"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of a schedule file, as the page lists it."""

    line: int | None
    column: int | None
    field: str | None
    message: str


def problems_of(exc: ScheduleError) -> list[Problem]:
    """Every problem, by line and column when the text names them."""
    located = [Problem(e["line"], e["column"], e["field"], e["message"])
               for e in exc.extra.get("errors", [])]
    if len(located) == len(exc.problems):
        return located
    return [Problem(None, None, None, text) for text in exc.problems]


def _page(db: WebDb, actor: Actor, study: str, **extra: Any) -> FormPage:
    actor.require_admin()
    described = studies_service.describe_study(db, code=study, actor=actor)
    return FormPage("admin_versions.html", {
        "nav": "studies", "d": described, "versions": described.versions,
        "text": "", "source": "", "problems": [], **extra,
    })


@router.get("/studies/{study}/versions")
def versions_page(request: Request, db: WebDb, actor: WebActor, study: Code,
                  notice: Annotated[str | None, Query(max_length=40)] = None,
                  version: Annotated[str | None, Query(pattern=_VERSION,
                                                       max_length=40)] = None) -> Response:
    messages = {"loaded": f"Version {version} loaded; it is not active until activated.",
                "unchanged": f"Version {version} was loaded already with this text; "
                             "nothing changed.",
                "activated": f"Version {version} is active: new subjects are enrolled on it.",
                "already-active": f"Version {version} was already active."}
    page = _page(db, actor, study, notice=messages.get(notice or "") if version else None)
    return render(request, page.template, dict(page.context))


def _schedule_text(form: FormData) -> tuple[str, str]:
    """The file uploaded, else the text pasted; line ends as in a file read as text."""
    upload = form.get("file")
    source = "<pasted>"
    pasted = form.get("text")
    raw: str | bytes = pasted if isinstance(pasted, str) else ""
    if isinstance(upload, UploadFile) and upload.filename:
        source = upload.filename[:300]
        raw = upload.file.read(4 * MAX_SCHEDULE_CHARS + 1)
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest("the file is not UTF-8 text", field="file") from exc
    text = raw.replace("\r\n", "\n")
    if not text.strip():
        raise InvalidRequest("paste the schedule's YAML text or choose a file", field="text")
    if len(text) > MAX_SCHEDULE_CHARS:
        raise InvalidRequest(f"a schedule file has at most {MAX_SCHEDULE_CHARS} characters",
                             field="text")
    problem = control_character_problem(text, multiline=True)
    if problem is not None:
        raise InvalidRequest(f"the text {problem}", field="text")
    return text, source


@router.post("/studies/{study}/versions")
def load_version(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                 study: Code) -> Response:
    actor.require_admin()
    pasted = form.get("text")
    shown = pasted if isinstance(pasted, str) and len(pasted) <= MAX_SCHEDULE_CHARS else ""
    try:
        text, source = _schedule_text(form)
        with db.begin_nested():
            # The API's load: every problem of the file first, then the load itself.
            studies_service.check_schedule(db, text=text, source=source, study=study,
                                           actor=actor)
            loaded = studies_service.load_schedule(db, text=text, source=source, actor=actor)
    except ScheduleError as exc:
        page = _page(db, actor, study, text=shown, problems=problems_of(exc))
        return page.refused(request, exc, message="The file has problems: nothing was loaded.")
    except FollowupError as exc:
        return _page(db, actor, study, text=shown).refused(request, exc)
    return redirect(request, versions_url(study),
                    notice="loaded" if loaded.created else "unchanged", version=loaded.version)


@router.post("/studies/{study}/versions/{version}/activate")
def activate_version(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                     study: Code, version: Version) -> Response:
    changed = studies_service.activate_version(db, study=study, version=version, actor=actor)
    return redirect(request, versions_url(study),
                    notice="activated" if changed else "already-active", version=version)


class Scope(StrEnum):
    """Which subjects "Apply this amendment" moves (the command's --all, --site, --subject)."""

    STUDY = "study"
    SITE = "site"
    SUBJECTS = "subjects"


@dataclass(frozen=True, slots=True)
class Chosen:
    """The subjects the form chose, as typed (shown again when the form is refused)."""

    scope: Scope
    site: str
    listed: str

    @property
    def subject_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i for i in _SEPARATORS.split(self.listed) if i))

    def check(self, sites: list[str]) -> None:
        """Refuse a site the study does not have (of those the actor sees), or no id."""
        if self.scope is Scope.SITE and self.site not in sites:
            raise InvalidRequest(f"choose one of the study's sites ({', '.join(sites)})",
                                 field="site")
        if self.scope is Scope.SUBJECTS and not self.subject_ids:
            raise InvalidRequest("list the ids of the subjects to move", field="subject_ids")


def _chosen(form: FormData) -> Chosen:
    try:
        scope = Scope(field(form, "scope", limit=20) or Scope.STUDY.value)
    except ValueError:
        raise InvalidRequest("choose the whole study, one site or the subjects listed",
                             field="scope") from None
    listed = field(form, "subject_ids", limit=MAX_LISTED_CHARS + 1)
    if len(listed) > MAX_LISTED_CHARS:
        raise InvalidRequest(f"list at most {MAX_LISTED_CHARS} characters of subject ids",
                             field="subject_ids")
    return Chosen(scope, field(form, "site", limit=40), listed)


def _compared_with(versions: list[str], active: str, version: str) -> str | None:
    """The version a diff starts from by default: the active one, or (for the active one)
    the one loaded before it."""
    if version != active:
        return active
    index = versions.index(version)
    return versions[index - 1] if index > 0 else None


def _version_context(db: WebDb, actor: Actor, study: str, version: str, now: datetime,
                     from_version: str | None) -> dict[str, Any]:
    """Everything a version's page shows: the diff, the impact (a dry run) and the form
    that applies it."""
    actor.require_admin()
    described = studies_service.describe_study(db, code=study, actor=actor)
    names = [v.version for v in described.versions]
    if version not in names:
        studies_service.get_version(db, described.study, version)  # NotFound
    active = described.version.version
    start = from_version or _compared_with(names, active, version)
    diff = None
    if start is not None:
        diff = preview_service.diff_versions(db, study=study, from_version=start,
                                             to_version=version, actor=actor)
    subjects = preview_service.subjects_of(db, study=study, actor=actor)
    impacts = preview_service.impacts(db, study=study, to_version=version, actor=actor,
                                      now=now, subject_ids=subjects[:IMPACT_SUBJECTS])
    return {
        "nav": "studies", "d": described, "version": version, "start": start,
        "versions": names, "diff": diff, "impacts": impacts,
        "more_subjects": max(0, len(subjects) - IMPACT_SUBJECTS), "active": active,
        # The pages move subjects forward only: to the active version or a later one.
        "applicable": names.index(version) >= names.index(active),
        "to_move": preview_service.subjects_to_move(db, study=study, to_version=version,
                                                    actor=actor),
        "signing": signing_of(actor, Meaning.APPROVED), "reason": "", "error": None,
        "chosen": Chosen(Scope.STUDY, "", ""),
    }


@router.get("/studies/{study}/versions/{version}")
def version_page(
    request: Request, db: WebDb, actor: WebActor, study: Code, version: Version, now: NowDep,
    from_version: Annotated[str | None, Query(alias="from", pattern=_VERSION,
                                              max_length=40)] = None,
) -> Response:
    return render(request, "admin_version.html",
                  _version_context(db, actor, study, version, now, from_version))


@router.post("/studies/{study}/versions/{version}/apply")
def apply_version(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                  study: Code, version: Version, now: NowDep) -> Response:
    """The subjects chosen (the whole study, one site's or those listed) that follow
    another version move to this one in this request's transaction, signed "approved by"
    once for all; the page then shows what each move changed."""
    reason = field(form, "reason", limit=1000)
    context = _version_context(db, actor, study, version, now, None)  # admins only
    chosen = _chosen(form)
    context |= {"reason": reason, "chosen": chosen}
    page = FormPage("admin_version.html", context)

    def change(signature: Signature | None) -> Response:
        if not context["applicable"]:
            raise Conflict(f"version {version} is older than the active version "
                           f"{context['active']}: subjects are not moved back to it here")
        chosen.check([s.code for s in context["d"].sites])
        run = run_service.apply_to_study(
            db, study=study, to_version=version, reason=reason, actor=actor, now=now,
            signature=signature, site=chosen.site if chosen.scope is Scope.SITE else None,
            subject_ids=chosen.subject_ids if chosen.scope is Scope.SUBJECTS else (),
        )
        return render(request, "admin_version_applied.html", {
            "nav": "studies", "d": context["d"], "version": version, "run": run,
            "reason": reason.strip(), "signature": signature, "chosen": chosen,
        })

    return signed_submit(request, db, actor, page, form, Meaning.APPROVED, now, change)
