"""Domain errors. No HTTP here: app/problems.py maps each class to a response.

FollowupError
 ├── NotFound                 something addressed does not exist (or is not visible)
 ├── Conflict                 the request contradicts what is stored
 │    ├── AlreadyExists
 │    ├── StudyFull
 │    ├── VersionConflict     same protocol version, different content
 │    ├── AlreadyRecorded     a visit already has a different outcome
 │    └── SubjectEnded        the subject died, withdrew or was lost
 ├── InvalidRequest           the request is well-formed but not acceptable
 │    ├── Ineligible          age outside the protocol's range
 │    ├── InvalidRows         rows of a bulk enrolment (each listed in ``errors``)
 │    ├── InvalidDate         in the future, before consent, out of bounds
 │    ├── UnknownValue        an event value the protocol does not declare
 │    ├── InvalidCursor       a page cursor this API did not hand out
 │    ├── UnknownQueryParameter  a query parameter the route does not take
 │    └── ReasonRequired      a correction without a reason
 ├── ScheduleError            a schedule file is invalid (carries every problem)
 ├── NotAuthenticated         no valid token (or username and password)
 ├── TooManyAttempts          sign-in refused unchecked after repeated failures
 └── Forbidden                the token's role may not do this
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any


class FollowupError(Exception):
    """Base of every domain error. ``slug`` names the problem type."""

    slug = "error"
    title = "Error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(FollowupError):
    slug, title = "not-found", "Not found"


class Conflict(FollowupError):
    slug, title = "conflict", "Conflict"


class AlreadyExists(Conflict):
    slug, title = "already-exists", "Already exists"


class StudyFull(Conflict):
    slug, title = "study-full", "Study is fully enrolled"


class VersionConflict(Conflict):
    slug, title = "version-conflict", "Protocol version already loaded with other content"


class AlreadyRecorded(Conflict):
    slug, title = "already-recorded", "Visit already recorded"


class SubjectEnded(Conflict):
    slug, title = "subject-ended", "Subject has left the study"


class InvalidRequest(FollowupError):
    slug, title = "invalid-request", "Invalid request"


class Ineligible(InvalidRequest):
    slug, title = "ineligible-age", "Age outside the protocol's eligibility range"


class InvalidRows(InvalidRequest):
    """Some rows of a bulk enrolment are invalid; ``errors`` lists every one of them."""

    slug, title = "invalid-rows", "Some rows are invalid"


class InvalidDate(InvalidRequest):
    slug, title = "invalid-date", "Date not acceptable"


class UnknownValue(InvalidRequest):
    """An event value outside the values the protocol declares for the event type;
    ``field`` names the request field and ``allowed`` the declared values, in order."""

    slug, title = "unknown-value", "Value not declared by the protocol"


class InvalidCursor(InvalidRequest):
    slug, title = "invalid-cursor", "Not a cursor this API returned"


class UnknownQueryParameter(InvalidRequest):
    """A query parameter the route does not take (a misspelt filter, say): refused, never
    ignored, since ignoring a filter silently widens the answer."""

    slug, title = "unknown-query-parameter", "Unknown query parameter"


class ReasonRequired(InvalidRequest):
    slug, title = "reason-required", "A reason is required"


_PROBLEM = re.compile(r"^(?P<source>.*?):(?P<line>\d+):(?P<column>\d+): (?P<field>.*?): "
                      r"(?P<message>.*)$", re.DOTALL)


class ScheduleError(FollowupError):
    """Every problem found in one or more schedule files, each "file:line:col: path: msg".

    ``errors`` holds the same problems as line, column, field and message.
    """

    slug, title = "invalid-schedule", "Invalid schedule"

    def __init__(self, problems: Sequence[str]) -> None:
        errors = []
        for text in problems:
            if (match := _PROBLEM.match(text)) is not None:
                errors.append({"line": int(match["line"]), "column": int(match["column"]),
                               "field": match["field"], "message": match["message"]})
        super().__init__("\n".join(problems), problems=list(problems), errors=errors)
        self.problems = list(problems)


class NotAuthenticated(FollowupError):
    slug, title = "not-authenticated", "Authentication required"


class TooManyAttempts(FollowupError):
    """Sign-in refused without checking the password, until ``retry_after`` seconds."""

    slug, title = "too-many-attempts", "Too many sign-in attempts"


class Forbidden(FollowupError):
    slug, title = "forbidden", "Not allowed"
