"""Studies (their protocol as loaded) and sites, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.schemas.common import Code, Problem, Text
from app.errors import InvalidRequest
from app.problems import PROBLEM_JSON
from app.schedule.language import Protocol
from app.schedule.plan import Plan
from app.services.sites import DIGEST_TIME_PATTERN, LinkResult, SiteView, check_time_zone
from app.services.studies import StudyProtocol, StudySummary

TimeZone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$",
        description="An IANA time zone name",
        examples=["Asia/Shanghai"],
    ),
]
DigestTime = Annotated[
    str,
    Field(
        pattern=DIGEST_TIME_PATTERN,
        description="Local time of the site's daily digest, HH:MM (24 h)",
        examples=["07:00"],
    ),
]
SiteName = Annotated[Text, Field(min_length=1, max_length=200,
                                 examples=["Yancheng Third Hospital"])]


# A body that is not text in a JSON encoding (UTF-8/16/32) never reaches validation:
# the framework answers 400, as a problem document like every other error.
UNREADABLE_BODY: dict[int | str, dict[str, Any]] = {
    400: {
        "model": Problem,
        "description": "Bad request",
        "content": {
            PROBLEM_JSON: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": {
                    "type": "/problems/bad-request",
                    "title": "Bad request",
                    "status": 400,
                    "detail": "There was an error parsing the body",
                },
            }
        },
    }
}


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- studies -----------------------------------------------------------------------------


class StudyOut(Out):
    code: str = Field(examples=["UCART-SLE"])
    title: str
    registry_id: str | None = Field(examples=["NCT07274059"])
    version: str | None = Field(description="The current protocol version", examples=["1.0"])
    target_enrolment: int = Field(examples=[48])
    enrolled: int = Field(description="Subjects enrolled so far, at every site", examples=[12])
    sites: list[str] = Field(description="Codes of the sites taking part that you may see",
                             examples=[["YC3H", "WTCH"]])

    @classmethod
    def of(cls, summary: StudySummary) -> StudyOut:
        return cls(
            code=summary.code,
            title=summary.title,
            registry_id=summary.registry_id,
            version=summary.version,
            target_enrolment=summary.target_enrolment,
            enrolled=summary.enrolled,
            sites=list(summary.sites),
        )


class StudyList(BaseModel):
    items: list[StudyOut]


class AgeOut(BaseModel):
    min: int | None = Field(examples=[18], description="null: no lower bound")
    max: int | None = Field(examples=[75], description="null: no upper bound")


class AnchorOut(BaseModel):
    name: str = Field(examples=["infusion"])
    label: str
    recorded: Literal["at_enrolment", "later"]


class VisitDefOut(BaseModel):
    code: str = Field(examples=["M3"])
    name: str
    phase: str = Field(description='"main", or the code of a conditional phase')
    kind: str = Field(examples=["clinic"])
    optional: bool
    timing: str = Field(description="When, as the protocol says it",
                        examples=["3 months from infusion"])
    anchor: str | None = Field(description="The anchor it is timed from (none: from a visit)")
    after_visit: str | None = Field(description="Timed from this visit's actual date instead")
    window_before_days: int = Field(ge=0, examples=[7])
    window_after_days: int = Field(ge=0, examples=[7])
    graded: bool = Field(
        default=True,
        description="False: the protocol gives it no window (window: none); never graded "
        "early or late, due for window_after_days after its target (due_for), or until the "
        "day before the next visit when due_until_next")
    due_until_next: bool = Field(
        default=False, description="Without a window nor due_for: due until the day before "
        "the next visit of its schedule")
    stops_at_progression: bool
    assessments: list[str] = Field(examples=[["AE", "SLEDAI"]])
    records: str | None = Field(
        default=None, examples=["infusion"],
        description="The anchor whose actual date this visit is: completing the visit sets "
        "it, and an actual date of the anchor completes the visit")


class TermOut(BaseModel):
    value: str = Field(description="As recorded: a case-sensitive code", examples=["CR"])
    label: str | None = Field(description="What it means", examples=["Complete response"])


class ConditionOut(BaseModel):
    event: str = Field(examples=["response"], description="response, progression, withdrawal "
                       "(early termination) or study_completed (end of study)")
    values: list[str] = Field(description="Response values that open the phase (none for "
                              "the other events)", examples=[["CR"]])


class PhaseOut(BaseModel):
    code: str = Field(examples=["HSCT"])
    name: str
    anchor: str = Field(description="The anchor its visits count from: a declared anchor, or "
                        "the opening event's type when anchored_on_event")
    anchored_on_event: bool = Field(description="Its visits count from the date of the event "
                                    "that opened it")
    condition: ConditionOut
    closes_on: list[str] = Field(
        examples=[["progression"]], description="Events that, recorded before the opening "
        "one, keep the phase from opening (death, withdrawal and loss to follow-up always "
        "do; a phase opened by withdrawal or study_completed is closed only by a death)")
    stops_at_progression: bool


class EndpointOut(BaseModel):
    code: str = Field(examples=["ORR"])
    name: str
    anchor: str
    assessment: str
    time_points: list[str] = Field(examples=[["6 months", "12 months"]])
    window_before_days: int = Field(ge=0)
    window_after_days: int = Field(ge=0)
    satisfied_by: list[str] | None = Field(description="Visits that may satisfy it (any: null)")


class PeriodOut(BaseModel):
    code: str = Field(examples=["INPATIENT"])
    name: str
    anchor: str
    start: str = Field(examples=["day 0"])
    end: str = Field(examples=["day 7"])
    end_anchor: str = Field(examples=["infusion"], description="The anchor `end` counts from")


class SiteBrief(Out):
    code: str = Field(examples=["YC3H"])
    name: str
    time_zone: str = Field(examples=["Asia/Shanghai"])


class VersionOut(Out):
    version: str = Field(examples=["1.0"])
    content_hash: str = Field(description="SHA-256 of the YAML text")
    loaded_at: datetime
    active: bool = Field(description="New subjects are enrolled on this version")


class StudyDetail(BaseModel):
    """A study as described by its current protocol version."""

    code: str = Field(examples=["UCART-SLE"])
    title: str
    registry_id: str | None
    version: str = Field(examples=["1.0"])
    target_enrolment: int
    enrolled: int
    age: AgeOut | None
    time_zone: str = Field(description="Default time zone of the study's sites")
    anchor_day: Literal[0, 1] = Field(description="0: the anchor is Day 0; 1: Day 1, no Day 0")
    upcoming_days: int = Field(description="Days before its window opens that a visit is"
                                           " 'upcoming'")
    anchors: list[AnchorOut]
    event_values: dict[str, list[TermOut]] = Field(
        description="Per event type, the values an event of that type may carry, in the"
                    " protocol's order (POST .../events refuses others). An event type not"
                    " listed accepts any code. Today only response carries a value.",
        examples=[{"response": [{"value": "CR", "label": "Complete response"},
                                {"value": "PR", "label": "Partial response"}]}],
    )
    visits: list[VisitDefOut]
    phases: list[PhaseOut]
    endpoints: list[EndpointOut]
    periods: list[PeriodOut]
    sites: list[SiteBrief]
    versions: list[VersionOut] = Field(description="Every loaded version, oldest first")

    @classmethod
    def of(cls, described: StudyProtocol) -> StudyDetail:
        plan = described.plan
        protocol = plan.protocol
        meta = protocol.study
        return cls(
            code=described.study.code,
            title=meta.title,
            registry_id=meta.registry_id,
            version=meta.version,
            target_enrolment=meta.target_enrolment,
            enrolled=described.enrolled,
            age=None if meta.age is None else AgeOut(min=meta.age.min, max=meta.age.max),
            time_zone=meta.time_zone,
            anchor_day=meta.anchor_day,
            upcoming_days=meta.upcoming_days,
            anchors=[
                AnchorOut(name=a.name, label=a.label, recorded=a.recorded)
                for a in protocol.anchors
            ],
            event_values={
                event: [TermOut(value=t.value, label=t.label) for t in terms]
                for event, terms in protocol.event_values.declared().items()
            },
            visits=_visits(plan),
            phases=_phases(protocol),
            endpoints=_endpoints(protocol, plan.anchor_day),
            periods=[
                PeriodOut(code=p.code, name=p.name, anchor=p.anchor, start=str(p.start),
                          end=str(p.end), end_anchor=p.to_anchor)
                for p in protocol.periods
            ],
            sites=[SiteBrief.model_validate(site) for site in described.sites],
            versions=[VersionOut.model_validate(v) for v in described.versions],
        )


def _visits(plan: Plan) -> list[VisitDefOut]:
    return [
        VisitDefOut(
            code=v.code,
            name=v.name,
            phase=v.phase,
            kind=v.kind,
            optional=v.optional,
            timing=v.timing,
            anchor=v.anchor,
            after_visit=v.after_visit,
            window_before_days=v.before_days,
            window_after_days=v.after_days,
            graded=v.graded,
            due_until_next=v.due_until_next,
            stops_at_progression=v.stops_at_progression,
            assessments=list(v.assessments),
            records=v.records_anchor,
        )
        for v in plan.visits
    ]


def _phases(protocol: Protocol) -> list[PhaseOut]:
    return [
        PhaseOut(
            code=p.code,
            name=p.name,
            anchor=p.timed_from,
            anchored_on_event=p.anchor is None,
            condition=ConditionOut(event=p.condition.event, values=list(p.condition.values)),
            closes_on=list(p.closes_on),
            stops_at_progression=p.stops_at_progression,
        )
        for p in protocol.phases
    ]


def _endpoints(protocol: Protocol, anchor_day: int) -> list[EndpointOut]:
    return [
        EndpointOut(
            code=e.code,
            name=e.name,
            anchor=e.anchor,
            assessment=e.assessment_code,
            time_points=[str(at) for at in e.time_points],
            window_before_days=e.window.before.offset_days_for(anchor_day),
            window_after_days=e.window.after.offset_days_for(anchor_day),
            satisfied_by=None if e.satisfied_by is None else list(e.satisfied_by),
        )
        for e in protocol.endpoints
    ]


# --- sites -------------------------------------------------------------------------------


class SiteOut(Out):
    code: str = Field(examples=["YC3H"])
    name: str
    time_zone: str = Field(examples=["Asia/Shanghai"])
    digest_time: str = Field(examples=["07:00"])
    studies: list[str] = Field(description="Studies the site takes part in that you may see",
                               examples=[["UCART-SLE"]])
    created_at: datetime

    @classmethod
    def of(cls, view: SiteView) -> SiteOut:
        return cls(
            code=view.code,
            name=view.name,
            time_zone=view.time_zone,
            digest_time=view.digest_time,
            studies=list(view.studies),
            created_at=view.created_at,
        )


class SiteList(BaseModel):
    items: list[SiteOut]


class _ZoneChecked(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("time_zone", check_fields=False)
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        # The pattern keeps names file-safe; zoneinfo says whether the zone exists.
        if value is not None:
            try:
                check_time_zone(value)
            except InvalidRequest as exc:
                raise ValueError(f'"{value}" is not an IANA time zone such as'
                                 ' "Asia/Shanghai"') from exc
        return value


class SiteIn(_ZoneChecked):
    code: Code = Field(examples=["SH02"])
    name: SiteName
    time_zone: TimeZone
    digest_time: DigestTime = "07:00"

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "code": "SH02", "name": "Shanghai Renji Hospital", "time_zone": "Asia/Shanghai",
        "digest_time": "07:30",
    }]})


class SitePatch(_ZoneChecked):
    name: SiteName | None = None
    time_zone: TimeZone | None = None
    digest_time: DigestTime | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"digest_time": "06:45"}, {"time_zone": "Asia/Shanghai", "name": "Renji Hospital"},
    ]})


class StudySiteOut(BaseModel):
    study: str = Field(examples=["UCART-SLE"])
    site: str = Field(examples=["SH02"])
    created: bool = Field(description="false when the site already took part in the study")

    @classmethod
    def of(cls, link: LinkResult) -> StudySiteOut:
        return cls(study=link.study, site=link.site, created=link.created)
