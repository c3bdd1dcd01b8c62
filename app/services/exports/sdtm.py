"""The CDISC SDTM export (IG v3.3): the SV and TV domains in one ZIP archive.

The archive holds ``sv.csv`` and ``tv.csv`` (UTF-8, RFC 4180, CRLF), then the same
domains as SAS transport files ``sv.xpt`` and ``tv.xpt`` (XPORT v5, :mod:`.sdtm_xpt`).
It is written piece by piece (:mod:`zipfile` on a stream that cannot seek: each member
is followed by its sizes): ``sv.csv`` a chunk of subjects at a time. The XPT writer
needs a whole table, so SV's values are kept, column by column, while ``sv.csv`` is
written, and ``sv.xpt`` is made from them at the end: the SV rows of the export are in
memory once (about a hundred bytes a visit), the archive never is.

SV has one record per visit that took place (its actual date), planned or unscheduled;
the conventions (study days, VISITNUM, EPOCH, USUBJID) are :mod:`app.schedule.sdtm`'s.
USUBJID's ``{site}`` is the site the subject was enrolled at, so that a transfer does
not change it.
The reference start date (RFSTDTC) of a subject is the actual date of its protocol
version's reference anchor (``study.study_day_from``, else the main anchor); without it
the study days are empty. TV is the newest protocol version's planned visits.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AnchorDateRow, Site, Subject
from app.schedule.plan import Plan
from app.schedule.sdtm import (
    AttendedVisit,
    SubjectVisit,
    TrialVisit,
    subject_visits,
    trial_visits,
    usubjid,
)
from app.schedule.status import Status
from app.services.exports.csv_out import neutralise
from app.services.exports.rows import (
    CHUNK_SUBJECTS,
    ExportScope,
    ExportSubject,
    export_versions,
    subject_chunks,
)
from app.services.exports.sdtm_xpt import SV_COLUMNS, TV_COLUMNS, Table, xpt_pieces

ATTENDED = frozenset({Status.COMPLETED, Status.COMPLETED_OUT_OF_WINDOW})
Value = str | float | int | None


class _Sink(io.RawIOBase):
    """What the archive writes to: a buffer emptied after each piece (no seek, no tell)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.buffer += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


def number(value: float | None) -> str:
    """A number as SDTM's CSV writes it: 3, 3.01."""
    return "" if value is None else f"{value:g}"


def csv_text(rows: Sequence[Sequence[Value]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(
        [neutralise(v) if isinstance(v, str) else number(v) if isinstance(v, float)
         else "" if v is None else v for v in row]
        for row in rows
    )
    return buffer.getvalue()


def tv_rows(study: str, planned: Sequence[TrialVisit]) -> list[list[Value]]:
    return [[study, "TV", t.visitnum, t.name, t.visitdy, "", "", t.rule, ""] for t in planned]


def sv_rows(study: str, subject_key: str, visits: Sequence[SubjectVisit]) -> list[list[Value]]:
    return [
        [study, "SV", subject_key, v.visitnum, v.visit, v.visitdy, v.epoch, v.start.isoformat(),
         v.start.isoformat(), v.study_day, v.study_day, v.description or ""]
        for v in visits
    ]


@dataclass(frozen=True, slots=True)
class SubjectFacts:
    """What SV needs of a subject beyond its visits."""

    enrolled_site: str  # USUBJID's {site}: the enrolment site, stable across transfers
    reference: date | None  # RFSTDTC: the actual date of its version's reference anchor


def _facts(
    session: Session, scope: ExportScope, subjects: Sequence[ExportSubject],
    anchors: dict[str, str],
) -> dict[str, SubjectFacts]:
    ids = [s.subject_id for s in subjects]
    sites = dict(session.execute(
        select(Subject.subject_id, Site.code).join(Site, Site.id == Subject.enrolled_site_id)
        .where(Subject.study_id == scope.study_id, Subject.subject_id.in_(ids))
    ).tuples().all())
    rows = session.execute(
        select(Subject.subject_id, AnchorDateRow.name, AnchorDateRow.date)
        .join(AnchorDateRow, AnchorDateRow.subject_pk == Subject.id)
        .where(Subject.study_id == scope.study_id, Subject.subject_id.in_(ids),
               AnchorDateRow.name.in_(set(anchors.values())), AnchorDateRow.actual.is_(True))
    ).tuples()
    version = {s.subject_id: s.protocol_version for s in subjects}
    references = {subject: day for subject, name, day in rows
                  if anchors.get(version[subject]) == name}
    return {s.subject_id: SubjectFacts(sites.get(s.subject_id, s.site),
                                       references.get(s.subject_id))
            for s in subjects}


def _attended(subject: ExportSubject) -> list[AttendedVisit]:
    return [AttendedVisit(v.code, v.name, v.unscheduled, v.actual_date)
            for v in subject.visits if v.actual_date is not None and v.status in ATTENDED]


def sdtm_members(
    session: Session, scope: ExportScope, *, chunk: int = CHUNK_SUBJECTS
) -> Iterator[tuple[str, Iterator[bytes]]]:
    """The archive's members, each as its name and its bytes piece by piece (``sv.csv``
    a piece per ``chunk`` subjects)."""
    versions = export_versions(session, scope)
    plans: dict[str, Plan] = {v.version: v.plan for v in versions}
    planned = {name: trial_visits(plan) for name, plan in plans.items()}
    anchors = {name: plan.protocol.reference_anchor for name, plan in plans.items()}
    templates = {name: plan.protocol.study.usubjid for name, plan in plans.items()}
    newest: tuple[TrialVisit, ...] = trial_visits(versions[-1].plan) if versions else ()
    sv = Table("SV", "Subject Visits", SV_COLUMNS)

    def sv_csv() -> Iterator[bytes]:
        yield csv_text([[c.name for c in SV_COLUMNS]]).encode("utf-8")
        for subjects in subject_chunks(session, scope, chunk=chunk):
            facts = _facts(session, scope, subjects, anchors)
            rows: list[list[Value]] = []
            for subject in subjects:
                known = facts[subject.subject_id]
                key = usubjid(templates.get(subject.protocol_version), study=scope.study,
                              site=known.enrolled_site, subject=subject.subject_id)
                records = subject_visits(_attended(subject),
                                         planned.get(subject.protocol_version, ()),
                                         known.reference)
                rows += sv_rows(scope.study, key, records)
            sv.extend(rows)
            yield csv_text(rows).encode("utf-8")

    tv_values = tv_rows(scope.study, newest)
    yield "sv.csv", sv_csv()
    yield "tv.csv", iter([csv_text([[c.name for c in TV_COLUMNS], *tv_values]).encode("utf-8")])
    yield "sv.xpt", xpt_pieces(sv)
    tv = Table("TV", "Trial Visits", TV_COLUMNS)
    tv.extend(tv_values)
    yield "tv.xpt", xpt_pieces(tv)


def write_sdtm(session: Session, scope: ExportScope) -> Iterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, pieces in sdtm_members(session, scope):
            info = zipfile.ZipInfo(name, date_time=scope.now.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                for piece in pieces:
                    member.write(piece)
                    if sink.buffer:
                        yield sink.take()
            yield sink.take()  # the member's data descriptor
    yield sink.take()  # the central directory
