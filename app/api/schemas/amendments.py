"""Protocol versions and amendments, as the API shows them."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from app.api.schemas.common import MultilineText, Text
from app.schedule.amendment import ChangeKind, ProtocolDiff, Section
from app.schedule.impact import Dates, Effect
from app.services.amendments.apply import Applied, Outcome
from app.services.amendments.preview import SubjectAmendment
from app.services.studies import LoadResult

# A schedule file, whole; far below the request body limit.
MAX_SCHEDULE_CHARS = 500_000


class AmendmentOut(BaseModel):
    number: int = Field(examples=[1])
    date: date
    summary: str
    reconsent: bool = Field(description="Subjects must re-consent before it applies to them")
    consent_version: str | None = Field(description="The consent version to re-consent to")


class ChangeOut(BaseModel):
    section: Section
    code: str = Field(examples=["M3"], description="Visit, phase, endpoint or period code; "
                                                  "the event type for a vocabulary")
    change: ChangeKind
    field: str | None = Field(examples=["timing"], description="null: added or removed whole")
    before: str | None = Field(examples=["3 months from infusion"])
    after: str | None = Field(examples=["day 84 from infusion"])


class DiffOut(BaseModel):
    study: str = Field(examples=["UCART-SLE"])
    from_version: str = Field(examples=["1.1"])
    to_version: str = Field(examples=["2.0"])
    amendment: AmendmentOut | None = Field(description="The metadata of the version diffed to")
    changes: list[ChangeOut]

    @classmethod
    def of(cls, diff: ProtocolDiff) -> DiffOut:
        a = diff.amendment
        return cls(
            study=diff.study, from_version=diff.from_version, to_version=diff.to_version,
            amendment=None if a is None else AmendmentOut(
                number=a.number, date=a.approved, summary=a.summary, reconsent=a.reconsent,
                consent_version=a.consent_version or (diff.to_version if a.reconsent else None),
            ),
            changes=[ChangeOut(section=c.section, code=c.code, change=c.kind, field=c.field,
                               before=c.before, after=c.after) for c in diff.changes],
        )


class DatesOut(BaseModel):
    target_date: date | None
    window_start: date | None
    window_end: date | None

    @classmethod
    def of(cls, d: Dates | None) -> DatesOut | None:
        return None if d is None else cls(target_date=d.target, window_start=d.window_start,
                                          window_end=d.window_end)


class ImpactItemOut(BaseModel):
    code: str = Field(examples=["M3"], description="A visit code, or an endpoint time point")
    effects: list[Effect] = Field(description="moved, appears, cancelled (removed by the "
                                              "amendment), kept (removed but done), status, "
                                              "out_of_window (done, outside its new window)")
    before: DatesOut | None = Field(description="null: the item appears")
    after: DatesOut | None = Field(description="null: removed by the amendment")
    status_before: str | None
    status_after: str | None
    actual_date: date | None = Field(default=None, description="A done visit's date")


class ImpactOut(BaseModel):
    subject_id: str = Field(examples=["YC3H-001"])
    site: str = Field(examples=["YC3H"])
    from_version: str = Field(examples=["1.1"])
    to_version: str = Field(examples=["2.0"])
    blocked: str | None = Field(description="Why the amendment may not apply yet (re-consent)")
    visits: list[ImpactItemOut]
    endpoints: list[ImpactItemOut]

    @classmethod
    def of(cls, a: SubjectAmendment) -> ImpactOut:
        return cls(
            subject_id=a.subject_id, site=a.site, from_version=a.from_version,
            to_version=a.to_version, blocked=a.impact.blocked,
            visits=[ImpactItemOut(
                code=v.code, effects=list(v.effects), before=DatesOut.of(v.before),
                after=DatesOut.of(v.after),
                status_before=None if v.state_before is None else v.state_before.value,
                status_after=None if v.state_after is None else v.state_after.value,
                actual_date=v.actual_date) for v in a.impact.visits],
            endpoints=[ImpactItemOut(
                code=e.code, effects=list(e.effects), before=DatesOut.of(e.before),
                after=DatesOut.of(e.after),
                status_before=None if e.status_before is None else e.status_before.value,
                status_after=None if e.status_after is None else e.status_after.value,
            ) for e in a.impact.endpoints],
        )


class ProtocolVersionIn(BaseModel):
    version: Text = Field(min_length=1, max_length=40, examples=["2.0"])
    reason: MultilineText = Field(min_length=1, max_length=1000,
                                  examples=["amendment 1 approved by the ethics committee"])
    dry_run: bool = Field(default=False, description="Say what would change; write nothing")


class AppliedOut(BaseModel):
    outcome: Outcome = Field(description="applied, already (nothing changed) or dry_run")
    impact: ImpactOut

    @classmethod
    def of(cls, applied: Applied) -> AppliedOut:
        return cls(outcome=applied.outcome, impact=ImpactOut.of(applied.amendment))


class ScheduleIn(BaseModel):
    text: MultilineText = Field(min_length=1, max_length=MAX_SCHEDULE_CHARS,
                      description="The schedule file's YAML text, whole")
    source: Text | None = Field(default=None, max_length=300, examples=["ucart-sle-2.0.yaml"],
                                description="The file's name, for problems and the audit")


class LoadedOut(BaseModel):
    study: str = Field(examples=["UCART-SLE"])
    version: str = Field(examples=["2.0"])
    result: Literal["loaded", "unchanged", "valid"] = Field(
        description="loaded; unchanged (the same text was loaded already); valid "
                    "(validate_only: nothing written)")

    @classmethod
    def of(cls, loaded: LoadResult, *, validate_only: bool) -> LoadedOut:
        result: Literal["loaded", "unchanged", "valid"] = (
            "valid" if validate_only else "loaded" if loaded.created else "unchanged")
        return cls(study=loaded.study, version=loaded.version, result=result)
