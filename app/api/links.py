"""OpenAPI links: how the answer of one operation addresses the next.

A client (or a stateful API fuzzer) that lists studies, subjects or the worklist learns
from these which follow-up requests take the codes it was given: the subjects of a
listed study, a listed subject, and the completion or miss of a listed visit. (A
fuzzer infers the links from a subject's own answer to its routes from the response
schemas; these are the ones it cannot infer.) Each link uses the first item of a list;
an empty list links nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Method(StrEnum):
    GET = "get"
    POST = "post"


@dataclass(frozen=True)
class Operation:
    method: Method
    path: str  # after the API prefix

    def ref(self, prefix: str) -> str:
        # An operationRef is a JSON pointer into the document: "/" in a path is "~1".
        escaped = f"{prefix}{self.path}".replace("~", "~0").replace("/", "~1")
        return f"#/paths/{escaped}/{self.method.value}"


@dataclass(frozen=True)
class Link:
    name: str
    source: Operation
    status: str
    target: Operation
    parameters: dict[str, str]
    description: str


STUDIES = Operation(Method.GET, "/studies")
STUDY = Operation(Method.GET, "/studies/{study}")
SUBJECTS = Operation(Method.GET, "/studies/{study}/subjects")
ENROL = Operation(Method.POST, "/studies/{study}/subjects")
SUBJECT = Operation(Method.GET, "/studies/{study}/subjects/{subject_id}")
WORKLIST = Operation(Method.GET, "/visits")
VISIT = "/studies/{study}/subjects/{subject_id}/visits/{visit_code}"
COMPLETION = Operation(Method.POST, f"{VISIT}/completion")
MISSED = Operation(Method.POST, f"{VISIT}/missed")

FIRST_STUDY = {"study": "$response.body#/items/0/code"}
FIRST_SUBJECT = {"study": "$request.path.study",
                 "subject_id": "$response.body#/items/0/subject_id"}
FIRST_VISIT = {"study": "$response.body#/items/0/study",
               "subject_id": "$response.body#/items/0/subject_id",
               "visit_code": "$response.body#/items/0/visit"}

LINKS = (
    Link("GetStudy", STUDIES, "200", STUDY, FIRST_STUDY, "The first study listed"),
    Link("ListSubjects", STUDIES, "200", SUBJECTS, FIRST_STUDY,
         "The subjects of the first study listed"),
    Link("EnrolSubject", STUDIES, "200", ENROL, FIRST_STUDY,
         "Enrol a subject in the first study listed"),
    Link("GetSubject", SUBJECTS, "200", SUBJECT, FIRST_SUBJECT, "The first subject listed"),
    Link("GetSubject", WORKLIST, "200", SUBJECT,
         {k: v for k, v in FIRST_VISIT.items() if k != "visit_code"},
         "The subject of the first visit listed"),
    Link("CompleteVisit", WORKLIST, "200", COMPLETION, FIRST_VISIT,
         "Record the first visit listed as done"),
    Link("MissVisit", WORKLIST, "200", MISSED, FIRST_VISIT,
         "Record the first visit listed as missed"),
)


def add_links(document: dict[str, Any], *, prefix: str) -> None:
    """Add ``LINKS`` to the responses of their source operations (paths under ``prefix``)."""
    paths = document.get("paths", {})
    for link in LINKS:
        operation = paths[f"{prefix}{link.source.path}"][link.source.method.value]
        response = operation["responses"][link.status]
        response.setdefault("links", {})[link.name] = {
            "operationRef": link.target.ref(prefix),
            "parameters": {f"path.{k}": v for k, v in link.parameters.items()},
            "description": link.description,
        }
