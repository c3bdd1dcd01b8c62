"""Pieces of the public contract every resource shares.

- :data:`Text` and :data:`MultilineText`, the types of every free-text field, query
  filter and path parameter that is not a code: no control characters (the rule of
  :mod:`app.schedule.text`; a NUL cannot even be stored by PostgreSQL). Codes and ids
  have patterns of their own that allow none either;
- strict path parameters (study codes, subject ids, visit codes, anchor names), so an id
  such as " 8" or one of 5,000 characters is refused before any query runs;
- ISO dates bounded to 1900..2200 (no year 0001 or 9999 visits);
- the RFC 9457 problem document and :func:`problem_responses`, which documents each
  error status of a route with an example (the handlers live in app/problems.py),
  including the 503 any route answers while the database is busy or out of reach.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.problems import DATABASE_PROBLEMS, HTTP_SLUGS, PROBLEM_JSON, problem_type
from app.schedule.lifecycle import LifecycleFilter
from app.schedule.names import CODE_PATTERN, NAME_PATTERN
from app.schedule.text import MULTI_LINE_PATTERN, ONE_LINE_PATTERN

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2200, 12, 31)

# What the OpenAPI document shows: the year is 1900..2200 (the day is checked exactly).
DATE_PATTERN = r"^(19[0-9]{2}|2[01][0-9]{2}|2200)-[0-9]{2}-[0-9]{2}$"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_only(value: object) -> object:
    """Refuse what pydantic would otherwise read as a date: 0 (a Unix time), "20260201"."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be an ISO 8601 date such as 2026-02-01")
    return value


ApiDate = Annotated[
    date,
    BeforeValidator(_iso_date_only),
    Field(ge=MIN_DATE, le=MAX_DATE, description="An ISO 8601 date within 1900-01-01..2200-12-31",
          examples=["2026-02-01"], json_schema_extra={"pattern": DATE_PATTERN}),
]
Code = Annotated[str, Field(pattern=CODE_PATTERN, max_length=40)]
# Text on one line: names, filters, emails. Each use adds its length bound.
Text = Annotated[str, Field(pattern=ONE_LINE_PATTERN)]
# Text that may run over several lines (notes, reasons): tabs and line breaks too.
MultilineText = Annotated[str, Field(pattern=MULTI_LINE_PATTERN)]
# Any text up to the length bound: whether it is a cursor this API handed out is the
# pagination codec's to say (one 422 invalid-cursor for every forgery).
CursorQuery = Annotated[Text | None, Query(
    max_length=200, description="The next_cursor of the previous page, unchanged")]

StudyPath = Annotated[str, Path(
    pattern=CODE_PATTERN, max_length=40, description="The study code", examples=["UCART-SLE"],
)]
SubjectPath = Annotated[str, Path(
    pattern=CODE_PATTERN, max_length=40, description="The subject id used by the EDC",
    examples=["YC3H-001"],
)]
VisitPath = Annotated[str, Path(
    pattern=CODE_PATTERN, max_length=40, description="The visit code of the protocol",
    examples=["D14"],
)]
EventPath = Annotated[int, Path(
    ge=1, le=2**31 - 1, description="The event's id, from the subject document's events",
    examples=[42],
)]
LifecycleQuery = Annotated[list[LifecycleFilter] | None, Query(
    max_length=10,
    description="Subjects still on study (active), those who left it (ended), everyone "
                "(all), or those in one lifecycle (died, withdrawn, ...); repeatable",
    examples=[["active"]],
)]
AnchorPath = Annotated[str, Path(
    pattern=NAME_PATTERN, max_length=40, description="The anchor name of the protocol",
    examples=["infusion"],
)]


class FieldProblem(BaseModel):
    location: str = Field(examples=["body.actual_date"])
    message: str
    type: str


class ScheduleProblem(BaseModel):
    """One problem of a schedule file, where it is in the file."""

    line: int = Field(ge=1, examples=[97])
    column: int = Field(ge=1, examples=[9])
    field: str = Field(examples=["visits[4].at"])
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document (media type application/problem+json)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem",
                      examples=["/problems/not-found"])
    title: str = Field(description="The same for every problem of this type")
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="What exactly is wrong with this request")
    errors: list[FieldProblem | ScheduleProblem] | None = Field(
        default=None, description="For request validation: each failing field; for an "
                                  "invalid schedule file: each problem with its line and column"
    )


# Typical detail of each problem type, for the examples of the OpenAPI document.
EXAMPLES: dict[str, tuple[int, str, str]] = {
    "bad-request": (400, "Bad request", "There was an error parsing the body"),
    "not-authenticated": (401, "Authentication required", "send Authorization: Bearer <token>"),
    "forbidden": (403, "Not allowed", "role monitor is read-only"),
    "not-found": (404, "Not found", "subject YC3H-001 not found in study UCART-SLE"),
    "conflict": (409, "Conflict",
                 "visit HSCT-D14 cannot be completed on 2025-05-01: its phase HSCT has not"
                 " opened (waiting for response CR/sCR): record the response that opens it"
                 " first"),
    "already-exists": (409, "Already exists",
                       "subject YC3H-001 is already enrolled in study UCART-SLE"),
    "study-full": (409, "Study is fully enrolled",
                   "study UCART-SLE has reached its target of 48 subjects"),
    "already-recorded": (409, "Visit already recorded",
                         "visit D14 is already completed on 2026-02-15; send correction: true"
                         " with a reason to change it"),
    "subject-ended": (409, "Subject has left the study",
                      "subject YC3H-001 has died; no further events"),
    "validation-error": (422, "Request validation failed",
                         "body.actual_date: Input should be a valid date"),
    "invalid-request": (422, "Invalid request", "site MM01 does not take part in study UCART-SLE"),
    "ineligible-age": (422, "Age outside the protocol's eligibility range",
                       "age 17 at consent is outside 18..75"),
    "invalid-date": (422, "Date not acceptable",
                     "visit date 2026-03-02 is in the future (site date 2026-03-01)"),
    "unknown-value": (422, "Value not declared by the protocol",
                      '"cr" is not a declared response value (did you mean CR?); allowed: sCR,'
                      " CR, VGPR, PR, MR, SD, PD"),
    "invalid-cursor": (422, "Not a cursor this API returned",
                       "cursor is not one this API returned"),
    "unknown-query-parameter": (422, "Unknown query parameter",
                                "unknown query parameter(s): stauts; accepted: as_of, cursor,"
                                " from, limit, site, status, study, to"),
    "invalid-schedule": (422, "Invalid schedule",
                         "ucart-sle-2.0.yaml:97:9: visits[4].at: \"3 mnths\" is not a duration"),
    "version-conflict": (409, "Protocol version already loaded with other content",
                         "UCART-SLE version 2.0 is already loaded with other content"),
    "reason-required": (422, "A reason is required", "correcting anchor infusion needs a reason"),
    "invalid-rows": (422, "Some rows are invalid", "2 invalid row(s); nothing was imported"),
    "too-large": (413, "Request body too large", "the request body is larger than 1048576 bytes"),
    # Any route, while the database is busy (a long import holds the write lock) or out of
    # reach; the response carries Retry-After.
    **{p.slug: (p.status, p.title, p.detail) for p in DATABASE_PROBLEMS.values()},
}

# The problems every API route can answer: no or a bad token, invalid input (a query
# parameter the route does not take too), and the database busy or out of reach.
ALWAYS = ("not-authenticated", "validation-error", "unknown-query-parameter",
          *(p.slug for p in DATABASE_PROBLEMS.values()))
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}


def _example(slug: str) -> dict[str, Any]:
    status, title, detail = EXAMPLES[slug]
    body: dict[str, Any] = {"type": problem_type(slug), "title": title, "status": status,
                            "detail": detail}
    if slug == "validation-error":
        body["errors"] = [{"location": "body.actual_date", "type": "date_from_datetime_parsing",
                           "message": "Input should be a valid date"}]
    elif slug == "unknown-value":
        body |= {"field": "value", "allowed": ["sCR", "CR", "VGPR", "PR", "MR", "SD", "PD"]}
    elif slug == "unknown-query-parameter":
        body |= {"unknown": ["stauts"],
                 "accepted": ["as_of", "cursor", "from", "limit", "site", "status", "study", "to"],
                 "errors": [{"location": "query.stauts", "message": "unknown query parameter",
                             "type": "unknown_query_parameter"}]}
    elif slug == "invalid-schedule":
        body["problems"] = [body["detail"]]
        body["errors"] = [{"line": 97, "column": 9, "field": "visits[4].at",
                           "message": "\"3 mnths\" is not a duration"}]
    elif slug == "invalid-rows":
        body["errors"] = [
            {"index": 0, "field": "site", "location": "body.0.site", "type": "invalid-row",
             "message": "site MM01 does not take part in study UCART-SLE"},
            {"index": 3, "field": "subject_id", "location": "body.3.subject_id",
             "type": "invalid-row", "message": "subject YC3H-001 is already enrolled"},
        ]
    return body


# The problems of any route with a JSON body: unreadable, too large.
BODY_PROBLEMS = ("bad-request", "too-large")


def problem_responses(*slugs: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each listed problem type, grouped by status.

    Authentication (401), request validation and unknown query parameters (422) and the
    database's outages (503) are always included, since every API route needs a token,
    checks its input and reads the database.
    """
    wanted = [*ALWAYS, *slugs]
    by_status: dict[int, list[str]] = {}
    for slug in dict.fromkeys(wanted):
        by_status.setdefault(EXAMPLES[slug][0], []).append(slug)
    out: dict[int | str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        fallback = HTTP_SLUGS.get(status, ("", "Error"))[1]
        out[status] = {
            "model": Problem,
            "description": " / ".join(EXAMPLES[s][1] for s in group) or fallback,
            "content": {
                PROBLEM_JSON: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "examples": {s: {"summary": EXAMPLES[s][1], "value": _example(s)}
                                 for s in group},
                }
            },
        }
        if status == 503:
            out[status]["headers"] = RETRY_AFTER
    return out
