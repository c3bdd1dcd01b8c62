"""The schedule language: frozen models of what a protocol YAML file may say.

A file has the sections ``study``, ``sites``, ``anchors``, ``event_values``, ``visits``,
``phases``, ``endpoints`` and ``periods``. Durations (:mod:`app.schedule.durations`) are
written as text ("14 days", "-2 days", "2 weeks", "3 months") or as a study day ("day 14"),
which depends on the study's day convention (``anchor_day``). See ``schedules/README.md``
for the full language.

The sections' parts have their own modules: names and codes (:mod:`app.schedule.names`),
timing (:mod:`app.schedule.timing`: windows, series, lists of time points) and what events
carry (:mod:`app.schedule.event_terms`).

These models check the *shape* of one file. Cross references (unknown anchors,
duplicate codes, cycles) are checked by :mod:`app.schedule.checks` and
:mod:`app.schedule.event_checks`, so that every mistake of a file is reported at once.
"""

from __future__ import annotations

import datetime as dt
import string
import zoneinfo
from typing import Annotated, Literal

from pydantic import Field, StrictInt, ValidationInfo, field_validator, model_validator

from app.schedule.covering import CoveredBy
from app.schedule.covering import VisitKind as VisitKind  # where the services take it from
from app.schedule.durations import Duration, DurationText
from app.schedule.eligibility_terms import AfterConsent, AgeRange, after_consent_problem
from app.schedule.event_terms import Condition, EventValues, default_closes_on
from app.schedule.names import Code, Name, Strict
from app.schedule.repeats import Repeats
from app.schedule.timing import (
    NO_WINDOW,
    UNGRADED,
    GraceDuration,
    Series,
    VisitAt,
    VisitWindow,
    WindowSpec,
)
from app.schedule.versions import LANGUAGE_VERSION

# SDTM's EPOCH (CDISC controlled terminology C99079 is upper case: SCREENING, TREATMENT,
# FOLLOW-UP, RUN-IN, ...).
Epoch = Annotated[str, Field(
    min_length=1, max_length=40, pattern=r"^[A-Z0-9][A-Z0-9 \-]*$",
    description="SDTM EPOCH of the visits (upper case, e.g. SCREENING, TREATMENT, FOLLOW-UP)",
)]
USUBJID_FIELDS = frozenset({"study", "site", "subject"})


def _check_usubjid(value: str) -> str:
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
    except ValueError as exc:
        raise ValueError(f"bad template: {exc}") from exc
    if names - USUBJID_FIELDS or "subject" not in names:
        raise ValueError("a usubjid template names {subject}, and may name {study} and {site}, "
                         'e.g. "{study}-{site}-{subject}"')
    return value


def _check_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f'"{value}" is not an IANA time zone such as "Asia/Shanghai"') from exc
    return value


class Study(Strict):
    code: Code
    title: str = Field(min_length=1, max_length=300)
    registry_id: str | None = Field(default=None, max_length=40)
    version: str = Field(min_length=1, max_length=40, description="Protocol version")
    target_enrolment: int = Field(ge=1, le=1_000_000)
    age: AgeRange | None = None
    time_zone: str = Field(description="Default IANA time zone of the study's sites")
    anchor_day: Literal[0, 1] = Field(
        description="0: the anchor date is Day 0 (CAR-T); 1: the anchor is Day 1, no Day 0 (SDTM)"
    )
    study_day_from: Name | None = Field(
        default=None,
        description="The one anchor every study day of the calendar counts from (SDTM's "
        "reference start date); default: each visit counts from its own anchor",
    )
    usubjid: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="SDTM USUBJID of a subject: a template of {study}, {site} (of enrolment) "
        'and {subject} (e.g. "{study}-{site}-{subject}"); default: the subject id',
    )
    upcoming_days: int = Field(
        default=7,
        ge=0,
        le=90,
        description="A visit is 'upcoming' this many days before its window opens",
    )
    missed_after: GraceDuration | None = Field(
        default=None,
        description="A visit still not done this long after its window closed counts as "
        "missed (derived, until someone documents it); none: it stays overdue",
    )

    complete_after_last_visit: bool = Field(
        default=False,
        description="A subject counts as having completed the study once every non-optional "
        "visit of the main schedule (and of a phase that opened) is done: completed, missed "
        "or cancelled (derived; a study_completed event still ends it explicitly)",
    )

    _zone = field_validator("time_zone")(_check_zone)

    @field_validator("usubjid")
    @classmethod
    def _usubjid(cls, value: str | None) -> str | None:
        return None if value is None else _check_usubjid(value)


class Site(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    time_zone: str | None = Field(default=None, description="Defaults to the study's time zone")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)


class Anchor(Strict):
    name: Name
    label: str = Field(min_length=1, max_length=200)
    recorded: Literal["at_enrolment", "later"] = Field(
        description="at_enrolment: required to enrol; later: recorded (or planned) after enrolment"
    )
    after_consent: AfterConsent | None = Field(
        default=None, description="An eligibility date: on or after the consent date and at "
        'most this long after it ("28 days": screening within 28 days of consent)',
    )

    @field_validator("after_consent")
    @classmethod
    def _eligibility(cls, value: Duration | None, info: ValidationInfo) -> Duration | None:
        problem = after_consent_problem(info.data.get("name"), info.data.get("recorded"))
        if value is not None and problem is not None:
            raise ValueError(problem)
        return value


class Visit(Strict):
    """One visit, or several when ``series`` or a list of time points (``at: [...]``) is
    given.

    Then ``code`` and ``name`` are templates: ``{n}`` is the time point in its unit (3, 6,
    9 for months; 2 for "day 2"), ``{i}`` its position (1, 2, 3), and in a list of study
    days ``{day}`` the study day.
    """

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    anchor: Name | None = Field(default=None, description="Defaults to the phase or study anchor")
    after_visit: str | None = Field(
        default=None, description="Time from the actual date of this earlier visit instead"
    )
    timed_from: Literal["actual", "target"] = Field(
        default="actual",
        description="With after_visit: count from that visit's actual date once it is done "
        "(its target until then), or always from its target date",
    )
    at: VisitAt | None = None
    series: Series | None = None
    window: VisitWindow = Field(
        default=NO_WINDOW,
        description='How early and late the visit may be done; "none": the protocol gives '
        "it no window (never graded early or late, due from its target until due_for or "
        "the next visit)",
    )
    due_for: GraceDuration | None = Field(
        default=None,
        description="With window: none, how long after its target the visit stays due "
        "(default: until the day before the next visit of its schedule)",
    )
    kind: VisitKind = "clinic"
    optional: bool = False
    stops_at_progression: bool = False
    assessments: tuple[Code, ...] = ()
    missed_after: GraceDuration | None = Field(
        default=None, description="Overrides the study's missed_after for this visit"
    )
    skip_within: GraceDuration | None = Field(
        default=None,
        description="Not applicable when another visit (one without skip_within, and one "
        "covered_by names) is dated within this many days of its target",
    )
    covered_by: CoveredBy | None = Field(
        default=None, description="With skip_within: the visits that cover this one (default: "
        "any visit without skip_within)",
    )
    records: Name | None = Field(
        default=None,
        description="The anchor whose actual date this visit is: completing the visit sets "
        "the anchor, confirming the anchor completes the visit (timed on the anchor's day, "
        "no window)",
    )
    visitnum: float | None = Field(
        default=None, gt=0, le=99999,
        description="SDTM VISITNUM (unique); a series or list of time points numbers its "
        "visits from it, 1 apart; default: the previous visit's number + 1 (protocol order)",
    )
    epoch: Epoch | None = Field(
        default=None, description="SDTM EPOCH; default: the phase's, else SCREENING before "
        "the anchor, TREATMENT on its day, FOLLOW-UP after (conditional phases: FOLLOW-UP)",
    )

    @field_validator("due_for")
    @classmethod
    def _ungraded(cls, value: Duration | None, info: ValidationInfo) -> Duration | None:
        # A window that failed to validate is reported on its own, not again here.
        if value is not None and info.data.get("window", UNGRADED) != UNGRADED:
            raise ValueError("due_for applies to a visit without a window (window: none)")
        return value

    @model_validator(mode="after")
    def _timing(self) -> Visit:
        if (self.at is None) == (self.series is None):
            raise ValueError("give exactly one of 'at' or 'series'")
        if self.anchor is not None and self.after_visit is not None:
            raise ValueError("give 'anchor' or 'after_visit', not both")
        if self.series is not None and self.after_visit is not None:
            raise ValueError("a series is timed from an anchor, not from a visit")
        if isinstance(self.at, tuple) and self.after_visit is not None:
            raise ValueError("a list of time points is timed from an anchor, not from a visit")
        if self.timed_from != "actual" and self.after_visit is None:
            raise ValueError("timed_from applies to a visit timed from another (after_visit)")
        return self

    @property
    def graded(self) -> bool:
        """Whether the visit has a window it is graded against (not ``window: none``)."""
        return self.window != UNGRADED

    @property
    def repeated(self) -> bool:
        """Whether this entry yields several visits (a series or a list of time points)."""
        return self.series is not None or isinstance(self.at, tuple)


ClosingEvent = Literal["progression", "death", "withdrawal", "lost_to_follow_up"]


class Phase(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    anchor: Name | None = Field(
        default=None, description="Defaults to the date of the event that opens the phase"
    )
    condition: Condition
    closes_on: tuple[ClosingEvent, ...] = Field(
        default=("progression",),
        description="Events that, recorded before the opening one, keep the phase from ever "
        "opening (default: progression; none for a phase opened by withdrawal or "
        "study_completed)",
    )
    stops_at_progression: bool = False
    epoch: Epoch | None = Field(
        default=None, description="SDTM EPOCH of the phase's visits that declare none "
        "(default: FOLLOW-UP)",
    )
    repeats: Repeats | None = Field(
        default=None, description="Opened again by each later event of its type, numbered "
        "per occurrence (retreatment at each progression); the next occurrence closes it",
    )
    visits: tuple[Visit, ...] = Field(min_length=1)

    _closes_on_default = model_validator(mode="before")(default_closes_on)

    @field_validator("closes_on")
    @classmethod
    def _not_closed_by_its_opener(cls, value: tuple[str, ...],
                                  info: ValidationInfo) -> tuple[str, ...]:
        condition = info.data.get("condition")
        if isinstance(condition, Condition):
            condition.check_closes_on(value)
        return value

    @model_validator(mode="after")
    def _stops(self) -> Phase:
        self.condition.check_stops(self.stops_at_progression,
                                   any(v.stops_at_progression for v in self.visits))
        return self

    @property
    def timed_from(self) -> str:
        """The anchor its visits count from: the declared one, else the opening event
        (whose date is then the anchor's, with no second entry)."""
        return self.anchor or self.condition.event


class Endpoint(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=300)
    anchor: Name
    at: tuple[DurationText, ...] | None = Field(default=None, min_length=1)
    series: Series | None = None
    window: WindowSpec = NO_WINDOW
    assessment: Code | None = Field(default=None, description="Defaults to the endpoint's code")
    satisfied_by: tuple[str, ...] | None = Field(
        default=None, description="Visit codes that may satisfy it; any visit when omitted"
    )

    @model_validator(mode="after")
    def _timing(self) -> Endpoint:
        if (self.at is None) == (self.series is None):
            raise ValueError("give exactly one of 'at' or 'series'")
        return self

    @property
    def assessment_code(self) -> str:
        return self.assessment or self.code

    @property
    def time_points(self) -> tuple[Duration, ...]:
        """The listed time points, or the series' (every 6 months from 6 to 60 months)."""
        if self.series is not None:
            return tuple(self.series.points())
        return self.at or ()


class Period(Strict):
    """A span of days shown on the calendar; its two ends may count from two anchors
    (bridging therapy runs from leukapheresis to the day before lymphodepletion)."""

    code: Code
    name: str = Field(min_length=1, max_length=200)
    anchor: Name
    start: DurationText = Field(alias="from")
    end: DurationText = Field(alias="to")
    end_anchor: Name | None = Field(
        default=None, alias="to_anchor", description="The anchor `to` counts from (default: "
        "anchor)"
    )

    @property
    def to_anchor(self) -> str:
        return self.end_anchor or self.anchor


class Amendment(Strict):
    """What a version amends: subjects already enrolled move to it only when it is applied
    to them (``followup protocol apply``), and, when ``reconsent`` is set, only once they
    have signed the new consent (a re-consent event carrying ``consent_version``)."""

    number: int = Field(ge=1, le=999, description="The amendment's number (1, 2, ...)")
    approved: dt.date = Field(alias="date", description="The date the amendment was approved")
    summary: str = Field(min_length=1, max_length=2000, description="What it changes and why")
    reconsent: bool = Field(
        default=False, description="Subjects must re-consent before it applies to them"
    )
    consent_version: str | None = Field(
        default=None, min_length=1, max_length=40,
        description="The consent version they must sign; defaults to the protocol version",
    )


class Protocol(Strict):
    """A whole schedule file."""

    language: StrictInt = Field(
        default=1, ge=1, le=LANGUAGE_VERSION, description="The version of the schedule "
        "language the file is written in; without it, version 1")
    study: Study
    amendment: Amendment | None = Field(
        default=None, description="Set on every version after the first"
    )
    sites: tuple[Site, ...] = ()
    anchors: tuple[Anchor, ...] = Field(min_length=1)
    default_anchor: Name | None = Field(
        default=None, description="Anchor of visits that name none; defaults to the first anchor"
    )
    event_values: EventValues = EventValues()
    visits: tuple[Visit, ...] = Field(min_length=1)
    phases: tuple[Phase, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    periods: tuple[Period, ...] = ()

    @property
    def main_anchor(self) -> str:
        return self.default_anchor or self.anchors[0].name

    @property
    def reference_anchor(self) -> str:
        """What an unscheduled visit's study day counts from."""
        return self.study.study_day_from or self.main_anchor

    def allowed_values(self, event: str) -> tuple[str, ...] | None:
        """The values an event of this type may carry; None: any code (none declared)."""
        terms = self.event_values.terms(event)
        return None if terms is None else tuple(t.value for t in terms)
