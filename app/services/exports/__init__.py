"""Exports of a study's data, for the EDC systems and data managers that read files.

- :mod:`.rows` reads what every format writes: the subjects the actor sees with their
  visits (status as of each site's local date), a chunk of subjects at a time;
- one module per format turns that into bytes, piece by piece (a generator), never
  holding the whole study: :mod:`.csv_out` (a spreadsheet's CSV), :mod:`.odm` and
  :mod:`.odm_meta` (CDISC ODM 1.3.2), :mod:`.sdtm` and :mod:`.sdtm_xpt` (CDISC SDTM SV
  and TV, CSV and SAS transport files in a ZIP), :mod:`.fhir`, :mod:`.fhir_plan` and
  :mod:`.fhir_base` (an HL7 FHIR R4 Bundle);
- this module names the formats (:class:`ExportFormat`), maps each to its writer
  (:data:`WRITERS`), and starts an export: the scope checked and the export audited
  (who took which study's data, in which format, for which site, when).

Adding a format: add a member to :class:`ExportFormat`, write a module with a function
``write_<format>(session, scope) -> Iterator[bytes]``, and add a line to :data:`WRITERS`
and to :data:`MEDIA`. A member without a writer is refused as "not available yet"
(NotFound, a 404 problem over HTTP and one line on stderr in the command), so that a
planned format's address can be stable before it works.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import NotFound
from app.services.audit import record_audit
from app.services.exports.csv_out import write_csv
from app.services.exports.fhir import write_fhir
from app.services.exports.odm import write_odm
from app.services.exports.rows import ExportScope, export_scope
from app.services.exports.sdtm import write_sdtm


class ExportFormat(StrEnum):
    CSV = "csv"
    ODM = "odm"  # CDISC ODM 1.3.2
    SDTM = "sdtm"  # CDISC SDTM IG 3.3: SV and TV, CSV and XPT v5, in a ZIP
    FHIR = "fhir"  # HL7 FHIR R4


Writer = Callable[[Session, ExportScope], Iterator[bytes]]


@dataclass(frozen=True, slots=True)
class Media:
    media_type: str
    extension: str


WRITERS: dict[ExportFormat, Writer] = {
    ExportFormat.CSV: write_csv,
    ExportFormat.ODM: write_odm,
    ExportFormat.SDTM: write_sdtm,
    ExportFormat.FHIR: write_fhir,
}
MEDIA: dict[ExportFormat, Media] = {
    ExportFormat.CSV: Media("text/csv; charset=utf-8", "csv"),
    ExportFormat.ODM: Media("application/xml", "xml"),
    ExportFormat.SDTM: Media("application/zip", "zip"),
    ExportFormat.FHIR: Media("application/fhir+json", "json"),
}
AVAILABLE = tuple(f for f in ExportFormat if f in WRITERS)


@dataclass(frozen=True, slots=True)
class Export:
    """An export that has been checked and audited; its bytes come from :meth:`body`."""

    format: ExportFormat
    scope: ExportScope
    writer: Writer
    media: Media

    @property
    def filename(self) -> str:
        site = f"-{self.scope.site}" if self.scope.site else ""
        day = self.scope.now.astimezone(UTC).strftime("%Y%m%d")
        return f"{self.scope.study}{site}-{day}.{self.media.extension}"

    def body(self, session: Session) -> Iterator[bytes]:
        """The document, piece by piece, read in ``session`` as it is consumed."""
        return self.writer(session, self.scope)


def writer_of(format: ExportFormat) -> Writer:
    writer = WRITERS.get(format)
    if writer is None:
        available = ", ".join(f.value for f in AVAILABLE)
        raise NotFound(f"export format {format.value} is not available yet ({available} are)",
                       available=[f.value for f in AVAILABLE])
    return writer


def start_export(
    session: Session,
    *,
    study: str,
    format: ExportFormat,
    site: str | None,
    actor: Actor,
    now: datetime,
) -> Export:
    """Check the format and what the actor may see, and audit the export.

    The audit record (``study.exported``) names the actor, the study, the format and the
    site filter; its time is when the export started.
    """
    writer = writer_of(format)
    scope = export_scope(session, study=study, site=site, actor=actor, now=now)
    record_audit(session, actor=actor, action="study.exported", entity="export",
                 study=scope.study, site=site, key=format.value,
                 after={"format": format.value, "site": site, "as_of": now.isoformat()})
    session.flush()
    return Export(format=format, scope=scope, writer=writer, media=MEDIA[format])
