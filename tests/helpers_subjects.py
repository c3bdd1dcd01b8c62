"""Builders for subject and visit tests: seed studies, tokens, enrolled subjects."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM, Actor, Role
from app.deps import now_utc
from app.models import ApiToken, AuditRecord
from app.schedule.expand import AnchorDate
from app.services.studies import load_schedule
from app.services.subjects.enrolment import enrol
from app.services.subjects.loading import LoadedSubject
from app.services.tokens import hash_token

SCHEDULES = Path(__file__).resolve().parent.parent / "schedules"
SLE = "UCART-SLE"
MM = "CART-HSCT-MM"
# Noon in Shanghai on 1 March 2026: the same calendar date in UTC and at the sites.
NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
EDC = Actor(name="test-edc", role=Role.EDC, studies=frozenset({SLE, MM}))


def seed_text(name: str) -> str:
    return (SCHEDULES / name).read_text(encoding="utf-8")


def load_seed_studies(session: Session) -> None:
    """Load every protocol of schedules/ (and the sites they declare)."""
    for path in sorted(SCHEDULES.glob("*.yaml")):
        load_schedule(session, text=path.read_text(encoding="utf-8"), source=path.name,
                      actor=SYSTEM)
    session.flush()


def completing_sle_text(code: str = "UCART-SLE") -> str:
    """The SLE protocol under ``code``, completing a subject once its schedule is done."""
    text = seed_text("ucart-sle.yaml").replace("code: UCART-SLE", f"code: {code}")
    completing = text.replace("\n  anchor_day: 0", "\n  complete_after_last_visit: true"
                              "\n  anchor_day: 0")
    assert completing != text
    return completing


def load_small_study(session: Session, *, code: str = "TINY-SLE", target: int = 2) -> str:
    """A copy of the SLE protocol under another code with a small enrolment target."""
    text = seed_text("ucart-sle.yaml").replace("code: UCART-SLE", f"code: {code}")
    text = text.replace("target_enrolment: 48", f"target_enrolment: {target}")
    load_schedule(session, text=text, source=f"{code}.yaml", actor=SYSTEM)
    session.flush()
    return code


def make_token(
    session: Session,
    role: str,
    sites: Iterable[str] = (),
    studies: Iterable[str] = (),
    *,
    name: str | None = None,
) -> str:
    """Store a token of ``role`` limited to ``sites``/``studies``; return its secret."""
    raw = "fu_" + secrets.token_urlsafe(32)
    session.add(ApiToken(
        name=name or f"{role}-{secrets.token_hex(4)}", role=role, token_hash=hash_token(raw),
        sites=list(sites), studies=list(studies),
    ))
    session.flush()
    return raw


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def enrol_sle(
    session: Session,
    subject_id: str = "S-001",
    *,
    site: str = "YC3H",
    consent: date = date(2026, 1, 5),
    infusion: date | None = date(2026, 2, 1),
    actual: bool = True,
    date_of_birth: date = date(1980, 5, 1),
    actor: Actor = EDC,
    now: datetime = NOW,
) -> LoadedSubject:
    anchors: Mapping[str, AnchorDate] = (
        {"infusion": AnchorDate(infusion, actual)} if infusion is not None else {}
    )
    return enrol(session, study=SLE, subject_id=subject_id, site=site, consent_date=consent,
                 date_of_birth=date_of_birth, anchors=anchors, actor=actor, now=now)


def enrol_mm(
    session: Session,
    subject_id: str = "MM-001",
    *,
    consent: date = date(2025, 1, 6),
    infusion: date | None = date(2025, 2, 3),
    actor: Actor = EDC,
    now: datetime = NOW,
) -> LoadedSubject:
    anchors = {"infusion": AnchorDate(infusion)} if infusion is not None else {}
    return enrol(session, study=MM, subject_id=subject_id, site="MM01", consent_date=consent,
                 date_of_birth=date(1970, 3, 3), anchors=anchors, actor=actor, now=now)


def audit_of(session: Session, study: str, subject_id: str) -> list[AuditRecord]:
    return list(session.scalars(
        select(AuditRecord)
        .where(AuditRecord.study_code == study, AuditRecord.subject_id == subject_id)
        .order_by(AuditRecord.id)
    ))


def stand_at(client: TestClient, now: datetime) -> None:
    """Make the API's clock read ``now`` (the routes take the instant as a dependency)."""
    client.app.dependency_overrides[now_utc] = lambda: now  # type: ignore[attr-defined]


def enrolment_body(subject_id: str = "S-001", **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "subject_id": subject_id, "site": "YC3H", "consent_date": "2026-01-05",
        "date_of_birth": "1980-05-01",
        "anchors": [{"name": "infusion", "date": "2026-02-01", "actual": True}],
    }
    body.update(overrides)
    return body


def assert_problem(response: Response, status: int, slug: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem of the given status and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}", body
    assert body["status"] == status and body["title"] and body["detail"]
    return body
