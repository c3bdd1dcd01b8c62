"""The digest and its recipients, as the API shows them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.schedule.names import CODE_PATTERN

# DigestOut has a field named "date": its other date fields name the type by this alias.
Day = date
StudyCode = Annotated[str, Field(pattern=CODE_PATTERN, max_length=40, examples=["UCART-SLE"])]


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[EmailStr, Field(max_length=254, examples=["crc.yc3h@hospital.example.cn"])]
    study: StudyCode | None = Field(
        default=None, description="Only this study's visits; omitted: every study of the site."
    )


class RecipientOut(BaseModel):
    site: str
    email: str
    study: str | None = Field(description="The study filter, or null for every study.")


class DigestRowOut(BaseModel):
    subject_id: str = Field(examples=["YC3H-004"])
    study: str
    visit_code: str = Field(examples=["M3"])
    visit_name: str
    optional: bool
    target_date: date | None
    window_start: date
    window_end: date
    days_overdue: int = Field(description="Days since the window closed (0 unless overdue).")
    closes_in_days: int = Field(description="Days until the last day of the window.")
    opens_in_days: int = Field(description="Days until the window opens (<= 0: open).")
    missed_from: date | None = Field(
        description="Newly missed only: the day the visit began to count as missed (derived)."
    )


class StudySummaryOut(BaseModel):
    study: str
    overdue: int
    due: int
    upcoming: int
    newly_missed: int
    line: str = Field(examples=["UCART-SLE: 3 overdue, 1 due, 2 coming up, 1 newly missed"])


class DigestOut(BaseModel):
    """What the site's daily email says, for its local date."""

    site: str
    site_name: str
    time_zone: str
    date: date
    date_label: str = Field(examples=["2026-03-02 (Mon)"])
    subject: str = Field(examples=["[followup] YC3H 2026-03-02 (Mon): 3 overdue visits"])
    all_clear: bool
    overdue: list[DigestRowOut] = Field(description="Most overdue first.")
    due: list[DigestRowOut] = Field(
        description="In their window today, or whose window closes within 3 days."
    )
    upcoming: list[DigestRowOut] = Field(description="Windows opening in the next 7 days.")
    newly_missed: list[DigestRowOut] = Field(
        description="Visits that began to count as missed (derived, not documented) after "
        "missed_after and by the digest's date; the longest missed first."
    )
    previous_digest: Day | None = Field(
        description="The local date of the previous digest sent to the site (null: none)."
    )
    missed_after: Day = Field(
        description="The previous digest's date, or 7 days back for a site's first digest."
    )
    studies: list[StudySummaryOut]
    worklist_url: str
