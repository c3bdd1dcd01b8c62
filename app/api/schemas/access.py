"""Tokens and the audit trail, as the API shows them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from app.access import Role
from app.schedule.names import CODE_PATTERN
from app.services.tokens import NAME_PATTERN

TIMESTAMP_PATTERN = (
    r"^(19[0-9]{2}|2[01][0-9]{2}|2200)-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
    r"(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


def _iso_timestamp_only(value: object) -> object:
    """Refuse what pydantic would otherwise read as a time: 0.5 (a Unix time), no offset."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        raise ValueError("must be an ISO 8601 timestamp with offset, e.g. 2026-03-01T08:00:00Z")
    return value


def _sane_year(value: datetime) -> datetime:
    if not 1900 <= value.year <= 2200:
        raise ValueError("must be between the years 1900 and 2200")
    return value


ApiTimestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_timestamp_only),
    AfterValidator(_sane_year),
    Field(examples=["2026-03-01T08:00:00Z"], json_schema_extra={"pattern": TIMESTAMP_PATTERN}),
]
Code = Annotated[str, Field(pattern=CODE_PATTERN, max_length=40)]
TokenName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=100, examples=["yc3h-nurse"])]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = Field(description="admin, edc, coordinator or monitor")
    sites: list[Code] = Field(
        default_factory=list, max_length=200,
        description="Site codes (coordinator: required; monitor: optional; others: none).",
        examples=[["YC3H"]],
    )
    studies: list[Code] = Field(
        default_factory=list, max_length=200,
        description="Study codes (edc and monitor: required; coordinator: optional).",
        examples=[["UCART-SLE"]],
    )
    name: TokenName | None = Field(
        default=None, description="Unique name; defaults to '<role>-<random>'."
    )
    expires_at: ApiTimestamp | None = Field(
        default=None, description="When the token stops working (UTC offset required)."
    )


class TokenOut(BaseModel):
    name: str
    role: str
    sites: list[str]
    studies: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool


class NewTokenOut(BaseModel):
    token: TokenOut
    secret: str = Field(
        description="The bearer token. Shown only in this response; store it now.",
        examples=["fu_3q2N...43 characters"],
    )


class AuditEntryOut(BaseModel):
    id: int
    at: datetime = Field(description="When, in UTC (with offset).")
    actor: str = Field(description=(
        "Who the change came under: the token's name, the username of a person signed in "
        "with a password, or 'system' for local commands."))
    role: str
    action: str = Field(examples=["visit.completed"])
    entity: str = Field(examples=["visit"])
    study: str | None
    site: str | None
    subject_id: str | None
    key: str | None = Field(description="Visit code, anchor name, token name...")
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    user: str | None = Field(description=(
        "The person's username (signed in, or through a personal token); null for a "
        "service token, a local command, or a record made before personal accounts."))
    user_display_name: str | None = Field(description="The person's printed name.")
    token: str | None = Field(description=(
        "The API token the change came through; null for a password sign-in, a local "
        "command, or a record made before personal accounts (its token is in actor)."))


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page."
    )
