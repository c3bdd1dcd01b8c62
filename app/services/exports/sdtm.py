"""The CDISC SDTM export (IG v3.3): the SV and TV domains in one ZIP archive.

The archive holds ``sv.csv`` and ``tv.csv`` (UTF-8, RFC 4180, CRLF), then the same
domains as SAS transport files ``sv.xpt`` and ``tv.xpt`` (XPORT v5, :mod:`.sdtm_xpt`).
It is written piece by piece (:mod:`zipfile` on a stream that cannot seek: each member
is followed by its sizes): ``sv.csv`` a chunk of subjects at a time. Each chunk's SV
rows are also written as XPT observations (:class:`.sdtm_xpt.XptWriter`, with column
widths decided before the first row by :func:`sv_widths`) into a temporary file, which
becomes ``sv.xpt`` after ``tv.csv``: the study is read once, and the memory an export
takes does not depend on the study's size (the disk it takes is about the size of
``sv.xpt``, for the time of the export).

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
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import IO

from sqlalchemy import LargeBinary, SQLColumnExpression, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.models import AnchorDateRow, Site, Subject, Visit
from app.schedule.plan import Plan
from app.schedule.sdtm import (
    SCREENING,
    UNSCHEDULED,
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
    in_scope,
    subject_chunks,
)
from app.services.exports.sdtm_xpt import (
    SV_COLUMNS,
    TV_COLUMNS,
    Dataset,
    XptWriter,
    dataset,
    width_of,
)

PIECE = 64 * 1024  # how much of a spooled file goes out at a time
DATE_BYTES = 10  # an ISO 8601 date (a date and time would be 16: 2026-03-01T09:30)
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


def sv_widths(
    session: Session, scope: ExportScope, planned: Iterable[TrialVisit],
    templates: Iterable[str | None],
) -> dict[str, int]:
    """The width in bytes of each character column of SV, decided before its first row:
    VISIT and EPOCH from the protocol's visits (an unscheduled visit's VISIT from the
    longest code recorded), USUBJID from the longest subject id and site code, SVUPDES
    from the longest visit name recorded; at most 200 bytes (longer values are cut)."""
    octets = _octets(session)
    subject = session.execute(
        select(func.max(octets(Subject.subject_id))).join(Site, Site.id == Subject.site_id)
        .where(*in_scope(scope))
    ).scalar() or 0
    code, name = session.execute(
        select(func.max(octets(Visit.code)), func.max(octets(Visit.name)))
        .join(Subject, Subject.id == Visit.subject_pk).join(Site, Site.id == Subject.site_id)
        .where(*in_scope(scope), Visit.actual_date.is_not(None))
    ).tuples().one()
    site = session.execute(select(func.max(octets(Site.code)))).scalar() or 0
    trial = list(planned)
    return {
        "STUDYID": width_of(scope.study), "DOMAIN": 2,
        "USUBJID": width_of(*(usubjid(t, study=scope.study, site="x" * site,
                                      subject="x" * subject) for t in set(templates))),
        "VISIT": width_of(*(t.name for t in trial), UNSCHEDULED + "x" * (code or 0)),
        "EPOCH": width_of(SCREENING, *(t.epoch for t in trial)),
        "SVSTDTC": DATE_BYTES, "SVENDTC": DATE_BYTES, "SVUPDES": width_of("x" * (name or 0)),
    }


def _octets(session: Session) -> Callable[[SQLColumnExpression[str]], ColumnElement[int]]:
    """A text's length in bytes of UTF-8, in the session's SQL."""
    if session.get_bind().dialect.name == "sqlite":
        return lambda text: func.length(cast(text, LargeBinary))
    return lambda text: func.octet_length(text)


def _tv_dataset(rows: Sequence[Sequence[Value]]) -> Dataset:
    texts = {c.name: [str(r[i]) for r in rows if r[i] is not None]
             for i, c in enumerate(TV_COLUMNS) if not c.numeric}
    return dataset("TV", "Trial Visits", TV_COLUMNS,
                   {name: width_of(*values) for name, values in texts.items()})


def _spooled(writer: XptWriter, spool: IO[bytes]) -> Iterator[bytes]:
    """An XPT file from its header, the records spooled so far, and the end's padding."""
    written = spool.tell()
    spool.seek(0)
    yield writer.header()
    while piece := spool.read(PIECE):
        yield piece
    yield writer.end(written)


def sdtm_members(
    session: Session, scope: ExportScope, *, chunk: int = CHUNK_SUBJECTS
) -> Iterator[tuple[str, Iterator[bytes]]]:
    """The archive's members, each as its name and its bytes piece by piece (``sv.csv``
    a piece per ``chunk`` subjects). SV's XPT records are made a chunk at a time while
    ``sv.csv`` is written, and kept in a temporary file until ``sv.xpt`` is."""
    versions = export_versions(session, scope)
    plans: dict[str, Plan] = {v.version: v.plan for v in versions}
    planned = {name: trial_visits(plan) for name, plan in plans.items()}
    anchors = {name: plan.protocol.reference_anchor for name, plan in plans.items()}
    templates = {name: plan.protocol.study.usubjid for name, plan in plans.items()}
    newest: tuple[TrialVisit, ...] = trial_visits(versions[-1].plan) if versions else ()
    widths = sv_widths(session, scope, (t for p in planned.values() for t in p),
                       [None, *templates.values()])
    sv_layout = dataset("SV", "Subject Visits", SV_COLUMNS, widths)
    tv_values = tv_rows(scope.study, newest)
    with XptWriter(sv_layout) as sv_xpt, tempfile.TemporaryFile() as spool:

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
                spool.write(sv_xpt.records(rows))
                yield csv_text(rows).encode("utf-8")

        yield "sv.csv", sv_csv()
        yield "tv.csv", iter([csv_text([[c.name for c in TV_COLUMNS], *tv_values])
                              .encode("utf-8")])
        yield "sv.xpt", _spooled(sv_xpt, spool)
    with XptWriter(_tv_dataset(tv_values)) as tv_xpt:
        records = tv_xpt.records(tv_values)
        yield "tv.xpt", iter([tv_xpt.header(), records, tv_xpt.end(len(records))])


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
