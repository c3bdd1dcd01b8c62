"""The coordinators' worklist and its counts."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from app.api.schemas.deviations import (
    DAYS_EARLY,
    DAYS_FROM_TARGET,
    DAYS_LATE,
    DAYS_OVERDUE,
    MISSED_FROM,
    STATUS_DESCRIPTION,
)
from app.schedule.status import Status
from app.services.worklist.counts import StatusCount
from app.services.worklist.page import WorklistPage

# What the worklist can be filtered on: every status a visit may have.
WorklistStatus = Status


class WorklistItem(BaseModel):
    study: str = Field(examples=["UCART-SLE"])
    subject_id: str = Field(examples=["YC3H-001"])
    site: str = Field(examples=["YC3H"])
    visit: str = Field(description="The visit code", examples=["D28"])
    name: str = Field(examples=["Day 28 clinic visit"])
    phase: str = Field(examples=["main"])
    kind: str = Field(examples=["clinic"])
    target_date: date | None = Field(examples=["2026-02-26"])
    window_start: date | None = Field(examples=["2026-02-23"])
    window_end: date | None = Field(examples=["2026-03-01"])
    status: WorklistStatus = Field(description=STATUS_DESCRIPTION)
    as_of: date = Field(description="The site's date the status is computed for",
                        examples=["2026-03-04"])
    days_overdue: int | None = Field(description=DAYS_OVERDUE, examples=[3])
    days_early: int | None = Field(description=DAYS_EARLY)
    days_late: int | None = Field(description=DAYS_LATE)
    days_from_target: int | None = Field(description=DAYS_FROM_TARGET)
    actual_date: date | None = Field(description="When it was done (completed visits)")
    missed_from: date | None = Field(description=MISSED_FROM)


class WorklistOut(BaseModel):
    items: list[WorklistItem]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= (with the same filters) for the next page; null at the end",
        examples=["WzEsMCwiMjAyNi0wMy0wMSIsMTIzNDVd"],
    )

    @classmethod
    def of(cls, page: WorklistPage) -> WorklistOut:
        # Validated straight from the service's rows, in one pass of pydantic-core.
        return cls.model_validate(
            {"items": page.rows, "next_cursor": page.next_cursor}, from_attributes=True
        )


class SiteStudyCounts(BaseModel):
    site: str = Field(examples=["YC3H"])
    study: str = Field(examples=["UCART-SLE"])
    as_of: date = Field(examples=["2026-03-04"])
    overdue: int = Field(ge=0, examples=[2])
    due: int = Field(ge=0, examples=[5])
    upcoming: int = Field(ge=0, examples=[9])
    missed_undocumented: int = Field(
        ge=0, examples=[1],
        description="Visits counting as missed (derived) that nobody has documented yet",
    )


class CountsTotal(BaseModel):
    overdue: int = Field(ge=0)
    due: int = Field(ge=0)
    upcoming: int = Field(ge=0)
    missed_undocumented: int = Field(ge=0)


class WorklistSummary(BaseModel):
    items: list[SiteStudyCounts]
    total: CountsTotal

    @classmethod
    def of(cls, counts: list[StatusCount]) -> WorklistSummary:
        items = [
            SiteStudyCounts(site=c.site, study=c.study, as_of=c.as_of, overdue=c.overdue,
                            due=c.due, upcoming=c.upcoming,
                            missed_undocumented=c.missed_undocumented)
            for c in counts
        ]
        total = CountsTotal(
            overdue=sum(c.overdue for c in counts),
            due=sum(c.due for c in counts),
            upcoming=sum(c.upcoming for c in counts),
            missed_undocumented=sum(c.missed_undocumented for c in counts),
        )
        return cls(items=items, total=total)
