"""The OpenAPI links lead from a listed study, subject or visit to real addresses.

A stateful client (the fuzz run's stateful phase among them) follows them, so each must
name an operation of the document, fill every path parameter of it and nothing else,
and, followed from a real answer, reach what was listed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.main import create_app
from app.schedule.dates import local_today
from app.settings import Settings
from tests.helpers_worklist import SLE, add_expanded_subject, bearer, load_seeds, make_token

DOCUMENT = create_app(Settings(database_url="sqlite://", secret_key="test-secret")).openapi()


def operation_at(ref: str) -> tuple[str, str, dict[str, Any]]:
    """(path, method, operation) an operationRef such as ``#/paths/~1a~1{b}/get`` names."""
    _, _, escaped, method = ref.split("/")
    path = escaped.replace("~1", "/").replace("~0", "~")
    return path, method, DOCUMENT["paths"][path][method]


def links_of(path: str, method: str, status: str) -> dict[str, dict[str, Any]]:
    links: dict[str, dict[str, Any]] = DOCUMENT["paths"][path][method]["responses"][status]
    return links.get("links", {})


def evaluate(expression: str, request_path: dict[str, str], body: Any) -> Any:
    """A runtime expression of the two kinds the links use."""
    if expression.startswith("$request.path."):
        return request_path[expression.removeprefix("$request.path.")]
    prefix = "$response.body#/"
    assert expression.startswith(prefix), expression
    for step in expression.removeprefix(prefix).split("/"):
        body = body[int(step)] if isinstance(body, list) else body[step]
    return body


def follow(link: dict[str, Any], request_path: dict[str, str], body: Any) -> tuple[str, str]:
    path, method, _ = operation_at(link["operationRef"])
    for name, expression in link["parameters"].items():
        path = path.replace("{" + name.removeprefix("path.") + "}",
                            str(evaluate(expression, request_path, body)))
    return method, path


def test_every_link_fills_exactly_the_path_parameters_of_an_operation() -> None:
    found = 0
    for item in DOCUMENT["paths"].values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                for link in response.get("links", {}).values():
                    found += 1
                    _, _, target = operation_at(link["operationRef"])
                    wanted = {f"path.{p['name']}" for p in target.get("parameters", [])
                              if p["in"] == "path"}
                    assert set(link["parameters"]) == wanted, link
    assert found >= 7


def test_links_from_studies_subjects_and_the_worklist_reach_what_was_listed(
    client: TestClient, session: Session
) -> None:
    load_seeds(session)
    today = local_today(datetime.now(UTC), "Asia/Shanghai")
    add_expanded_subject(session, SLE, "YC3H", "LINK-1",
                         {"infusion": today - timedelta(days=20),
                          "consent": today - timedelta(days=60)})
    headers = bearer(make_token(session, "admin"))

    studies = client.get("/api/v1/studies", headers=headers).json()
    links = links_of("/api/v1/studies", "get", "200")
    assert follow(links["GetStudy"], {}, studies) == (
        "get", f"/api/v1/studies/{studies['items'][0]['code']}")
    _, subjects_path = follow(links["ListSubjects"], {}, studies)
    assert follow(links["EnrolSubject"], {}, studies) == ("post", subjects_path)

    # The link goes to the subjects of SLE's list (the first study listed may have none).
    sle_subjects = f"/api/v1/studies/{SLE}/subjects"
    listed = client.get(sle_subjects, headers=headers).json()
    link = links_of("/api/v1/studies/{study}/subjects", "get", "200")["GetSubject"]
    _, subject_path = follow(link, {"study": SLE}, listed)
    assert client.get(subject_path, headers=headers).json()["subject_id"] == "LINK-1"

    worklist = client.get("/api/v1/visits", headers=headers).json()
    first = worklist["items"][0]
    links = links_of("/api/v1/visits", "get", "200")
    _, subject_path = follow(links["GetSubject"], {}, worklist)
    assert client.get(subject_path, headers=headers).status_code == 200
    visit = f"/api/v1/studies/{SLE}/subjects/LINK-1/visits/{first['visit']}"
    assert follow(links["CompleteVisit"], {}, worklist) == ("post", f"{visit}/completion")
    assert follow(links["MissVisit"], {}, worklist) == ("post", f"{visit}/missed")
