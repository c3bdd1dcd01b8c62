"""The compliance and endpoint reports of a study (shapes of app.services.reports.export)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from app.services.reports.compliance import ComplianceReport
from app.services.reports.endpoints import EndpointReport
from app.services.reports.export import compliance_dict, endpoints_dict

RATE = "A share of `expected` (0 to 1, four places); null when nothing is expected"


class ComplianceRates(BaseModel):
    in_window: float | None = Field(description=RATE, examples=[0.8])
    early: float | None = Field(description=RATE, examples=[0.05])
    late: float | None = Field(description=RATE, examples=[0.1])
    missed_documented: float | None = Field(description=RATE, examples=[0.05])
    missed_undocumented: float | None = Field(description=RATE, examples=[0.0])
    overdue: float | None = Field(description=RATE, examples=[0.0])


class ComplianceNumbers(BaseModel):
    expected: int = Field(ge=0, description=(
        "Visits that should have happened by now: the sum of the six counts"), examples=[20])
    in_window: int = Field(ge=0, description="Status `completed`: done inside the window",
                           examples=[16])
    early: int = Field(ge=0, description=(
        "Status `completed_out_of_window`, done before the window's first day"), examples=[1])
    late: int = Field(ge=0, description=(
        "Status `completed_out_of_window`, done after the window's last day"), examples=[2])
    missed_documented: int = Field(ge=0, description="Status `missed`: documented, with a reason",
                                   examples=[1])
    missed_undocumented: int = Field(ge=0, description=(
        "Status `missed_undocumented`: counts as missed (derived), nobody documented it"),
        examples=[0])
    overdue: int = Field(ge=0, description=(
        "Status `overdue`: window closed, not done, not counting as missed yet"), examples=[0])
    rates: ComplianceRates


class ComplianceRow(ComplianceNumbers):
    site: str = Field(examples=["YC3H"])
    visit: str = Field(examples=["D28"])
    name: str = Field(examples=["Day 28 clinic visit"])


class ComplianceSite(ComplianceNumbers):
    site: str = Field(examples=["YC3H"])


class ComplianceVisit(ComplianceNumbers):
    visit: str = Field(examples=["D28"])
    name: str = Field(examples=["Day 28 clinic visit"])


class ComplianceOut(BaseModel):
    study: str = Field(examples=["UCART-SLE"])
    as_of: dict[str, date] = Field(description="Each site's date the statuses are computed for",
                                   examples=[{"YC3H": "2026-09-01"}])
    rows: list[ComplianceRow] = Field(description="Per site, then per visit in protocol order")
    by_site: list[ComplianceSite]
    by_visit: list[ComplianceVisit]
    total: ComplianceNumbers

    @classmethod
    def of(cls, report: ComplianceReport) -> ComplianceOut:
        return cls.model_validate(compliance_dict(report))


class EndpointNumbers(BaseModel):
    met: int = Field(ge=0, description="A completed visit inside the window carries the "
                                       "endpoint's assessment", examples=[10])
    open: int = Field(ge=0, description="Not met yet; today is inside the window", examples=[2])
    scheduled: int = Field(ge=0, description="Not met; the window opens later", examples=[20])
    missed: int = Field(ge=0, description="The window closed unmet", examples=[1])
    pending: int = Field(ge=0, description="The endpoint's anchor has no date yet", examples=[0])
    cancelled: int = Field(ge=0, description=(
        "Not applicable: the follow-up ended on or before the window's last day, unmet"),
        examples=[1])
    total: int = Field(ge=0, description="Time points counted (one per subject)", examples=[34])
    decided: int = Field(ge=0, description="met + missed", examples=[11])
    met_rate: float | None = Field(description="met / decided; null when nothing is decided",
                                   examples=[0.9091])


class EndpointRow(EndpointNumbers):
    site: str = Field(examples=["YC3H"])
    endpoint: str = Field(examples=["DORIS"])
    time_point: str = Field(examples=["6 months"])
    code: str = Field(examples=["DORIS@6 months"])
    name: str = Field(examples=["DORIS remission (drug-free maintenance)"])


class EndpointTimePoint(EndpointNumbers):
    endpoint: str = Field(examples=["DORIS"])
    time_point: str = Field(examples=["6 months"])
    code: str = Field(examples=["DORIS@6 months"])
    name: str = Field(examples=["DORIS remission (drug-free maintenance)"])


class EndpointsOut(BaseModel):
    study: str = Field(examples=["UCART-SLE"])
    as_of: dict[str, date] = Field(description="Each site's date the statuses are computed for",
                                   examples=[{"YC3H": "2026-09-01"}])
    subjects: int = Field(ge=0, description="Subjects counted (at the sites you may see)")
    rows: list[EndpointRow] = Field(description="Per site (the subject's current site), then "
                                                "per time point in protocol order")
    by_time_point: list[EndpointTimePoint]
    total: EndpointNumbers

    @classmethod
    def of(cls, report: EndpointReport) -> EndpointsOut:
        return cls.model_validate(endpoints_dict(report))
