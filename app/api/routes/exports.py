"""Routes: a study's data as a file (CSV, CDISC ODM 1.3.2), streamed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from app.api.deps import ActorDep
from app.api.schemas.common import StudyPath, problem_responses
from app.deps import NowDep, SessionDep
from app.schedule.names import CODE_PATTERN
from app.services import exports

router = APIRouter(tags=["exports"])

FormatPath = Annotated[exports.ExportFormat, Path(
    description="csv, odm (CDISC ODM 1.3.2), sdtm (CDISC SDTM SV and TV, CSV and XPT v5, in a"
    " ZIP) or fhir (HL7 FHIR R4 Bundle)",
)]
SiteFilter = Annotated[str | None, Query(
    pattern=CODE_PATTERN, max_length=40, description="Only the subjects now at this site",
    examples=["YC3H"],
)]
FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}},
                      "application/xml": {"schema": {"type": "string"}},
                      "application/fhir+json": {"schema": {"type": "object"}},
                      "application/zip": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The export, streamed as it is read"},
}


@router.get(
    "/studies/{study}/exports/{format}",
    response_class=StreamingResponse,
    responses=FILE_RESPONSE | problem_responses("not-found"),
    summary="Export a study's subjects and visits as a file",
    description=(
        "The subjects you may see (a coordinator: those now at its sites; `site` narrows it"
        " to one site) with every visit: target date, window, actual date, status as of the"
        " site's today, deviation numbers and reason. `csv` is one row per visit, for a"
        " spreadsheet (text that would start a formula is prefixed with an apostrophe);"
        " `odm` is a CDISC ODM 1.3.2 Snapshot; `sdtm` a ZIP of the SDTM SV and TV domains"
        " as CSV and SAS transport v5 files (docs/standards.md). The export is audited"
        " (`study.exported`: who, which study, format and site) before the first byte is"
        " sent, and the file is written as it is read, whatever the study's size."
    ),
)
def export_study(
    study: StudyPath, format: FormatPath, session: SessionDep, actor: ActorDep, now: NowDep,
    site: SiteFilter = None,
) -> StreamingResponse:
    export = exports.start_export(session, study=study, format=format, site=site, actor=actor,
                                  now=now)
    # The audit record stands on its own, before the download: a client that goes away
    # mid-file has still taken data, and a long download holds no write lock.
    session.commit()
    return StreamingResponse(
        export.body(session), media_type=export.media.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"',
                 "Cache-Control": "no-store"},
    )
