"""Builders for studies, sites and worklist tests: rows inserted directly.

Visits are written as the enrolment service stores them (dates, state, the
``upcoming_from`` horizon), so these tests do not depend on enrolment.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import cast

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.deps import now_utc
from app.models import ApiToken, ProtocolVersion, Site, Study, StudySite, Subject, Visit
from app.schedule.expand import AnchorDate, expand
from app.services.studies import current_version, load_schedule, plan_of
from app.services.tokens import hash_token

SCHEDULES = Path(__file__).resolve().parent.parent / "schedules"
SLE = "UCART-SLE"
MM = "CART-HSCT-MM"


def load_seeds(session: Session) -> None:
    """Both seed protocols and their sites (YC3H and WTCH for SLE, MM01 for MM)."""
    for path in sorted(SCHEDULES.glob("*.yaml")):
        load_schedule(session, text=path.read_text("utf-8"), source=path.name, actor=SYSTEM)
    session.flush()


def study_row(session: Session, code: str) -> Study:
    return session.scalars(select(Study).where(Study.code == code)).one()


def site_row(session: Session, code: str) -> Site:
    return session.scalars(select(Site).where(Site.code == code)).one()


def add_site(
    session: Session, code: str, time_zone: str, *, studies: Iterable[str] = ()
) -> Site:
    site = Site(code=code, name=f"Site {code}", time_zone=time_zone)
    session.add(site)
    session.flush()
    for study in studies:
        session.add(StudySite(study_id=study_row(session, study).id, site_id=site.id))
    session.flush()
    return site


def add_subject(
    session: Session, study: str, site: str, subject_id: str, *, consent: date = date(2026, 1, 5)
) -> Subject:
    study_obj = study_row(session, study)
    subject = Subject(
        study_id=study_obj.id,
        site_id=site_row(session, site).id,
        subject_id=subject_id,
        protocol_version_id=current_version(session, study_obj).id,
        consent_date=consent,
        date_of_birth=date(1980, 5, 1),
    )
    session.add(subject)
    session.flush()
    return subject


def add_visit(
    session: Session,
    subject: Subject,
    code: str,
    *,
    target: date | None,
    before: int = 0,
    after: int = 0,
    state: str = "planned",
    optional: bool = False,
    actual: date | None = None,
    upcoming_days: int | None = 7,
    phase: str = "main",
    kind: str = "clinic",
    flush: bool = True,
) -> Visit:
    """One visit row; ``upcoming_days=None`` stores no upcoming horizon."""
    start = None if target is None else target - timedelta(days=before)
    end = None if target is None else target + timedelta(days=after)
    horizon = None
    if start is not None and upcoming_days is not None:
        horizon = start - timedelta(days=upcoming_days)
    visit = Visit(
        subject_pk=subject.id,
        study_id=subject.study_id,
        site_id=subject.site_id,
        code=code,
        name=f"Visit {code}",
        phase=phase,
        kind=kind,
        optional=optional,
        state=state,
        target_date=target,
        window_start=start,
        window_end=end,
        upcoming_from=horizon,
        actual_date=actual,
    )
    session.add(visit)
    if flush:
        session.flush()
    return visit


def add_expanded_subject(
    session: Session,
    study: str,
    site: str,
    subject_id: str,
    anchors: Mapping[str, date],
) -> Subject:
    """A subject whose visit rows come from the protocol's own expansion."""
    subject = add_subject(session, study, site, subject_id)
    version = session.get(ProtocolVersion, subject.protocol_version_id)
    assert version is not None
    plan = plan_of(version)
    upcoming = plan.protocol.study.upcoming_days
    expansion = expand(plan, {name: AnchorDate(day) for name, day in anchors.items()})
    session.add_all(
        Visit(
            subject_pk=subject.id,
            study_id=subject.study_id,
            site_id=subject.site_id,
            code=v.code,
            name=v.name,
            phase=v.phase,
            kind=v.kind,
            optional=v.optional,
            state=v.state.value,
            target_date=v.target_date,
            window_start=v.window_start,
            window_end=v.window_end,
            upcoming_from=(
                None if v.window_start is None else v.window_start - timedelta(days=upcoming)
            ),
            study_day=v.study_day,
            provisional=v.provisional,
        )
        for v in expansion.visits
    )
    session.flush()
    return subject


def make_token(
    session: Session,
    role: str,
    *,
    sites: Iterable[str] = (),
    studies: Iterable[str] = (),
) -> str:
    """Store a token of ``role`` limited to ``sites``/``studies``; return its secret.

    Commits what was set up so far: a request that fails rolls its session back, and
    must not take the test's own rows with it (the test's outer transaction still
    discards everything at the end).
    """
    raw = "fu_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=f"{role}-{secrets.token_hex(4)}",
            role=role,
            token_hash=hash_token(raw),
            sites=list(sites),
            studies=list(studies),
        )
    )
    session.commit()
    return raw


def stand_at(client: TestClient, instant: datetime) -> None:
    """Make the worklist routes read ``instant`` from the clock."""
    app = cast(FastAPI, client.app)
    app.dependency_overrides[now_utc] = lambda: instant


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}
