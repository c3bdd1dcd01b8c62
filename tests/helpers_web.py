"""Builders for the web pages and calendar feeds: seeded studies, subjects dated from today.

Subjects are enrolled relative to the site's today at an instant: infused 40 days ago,
the Day 14 and Day 28 visits are overdue and the Month 3 visit is still ahead. The
in-process tests pin that instant (:data:`NOW`, noon in Shanghai) for the data and for
the app's clock alike (:func:`stand_at`), so no test depends on when it runs; a real
server (the browser tests) seeds at its own clock's instant instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Subject, Visit
from app.schedule.dates import local_today
from app.services.subjects.loading import LoadedSubject
from app.services.visits import complete_visit
from tests.helpers_subjects import EDC, NOW, SLE, enrol_sle, load_seed_studies, make_token
from tests.helpers_subjects import stand_at as _stand_at

SHANGHAI = "Asia/Shanghai"
OWN_SITE = "YC3H"
OTHER_SITE = "WTCH"


def site_today(now: datetime = NOW) -> date:
    return local_today(now, SHANGHAI)


def stand_at(client: TestClient, now: datetime = NOW) -> None:
    """Make the app's clock (pages and API) read ``now``, the instant the data is seeded at."""
    _stand_at(client, now)


def enrol_recent(
    session: Session, subject_id: str, *, site: str = OWN_SITE, infused_days_ago: int = 40,
    now: datetime = NOW,
) -> LoadedSubject:
    today = site_today(now)
    return enrol_sle(
        session, subject_id, site=site, consent=today - timedelta(days=infused_days_ago + 20),
        infusion=today - timedelta(days=infused_days_ago), now=now,
    )


@dataclass(frozen=True, slots=True)
class Seeded:
    coordinator: str  # raw token: coordinator of OWN_SITE
    other_coordinator: str  # raw token: coordinator of OTHER_SITE
    admin: str
    monitor: str
    own_subject: str
    other_subject: str


def seed(session: Session, *, now: datetime = NOW) -> Seeded:
    """Both seed studies, one subject at each SLE site, and tokens of every kind."""
    load_seed_studies(session)
    enrol_recent(session, "YC-001", site=OWN_SITE, now=now)
    enrol_recent(session, "WT-001", site=OTHER_SITE, now=now)
    seeded = Seeded(
        coordinator=make_token(session, "coordinator", [OWN_SITE], name="coord-yc3h"),
        other_coordinator=make_token(session, "coordinator", [OTHER_SITE], name="coord-wtch"),
        admin=make_token(session, "admin", name="web-admin"),
        monitor=make_token(session, "monitor", studies=[SLE], name="monitor-sle"),
        own_subject="YC-001",
        other_subject="WT-001",
    )
    session.flush()
    return seeded


def seed_rich(session: Session, *, now: datetime = NOW) -> Seeded:
    """:func:`seed` plus subjects at other points of their calendar (for pages to show)."""
    seeded = seed(session, now=now)
    enrol_recent(session, "YC-002", site=OWN_SITE, infused_days_ago=95, now=now)
    enrol_recent(session, "YC-003", site=OWN_SITE, infused_days_ago=12, now=now)
    enrol_recent(session, "WT-002", site=OTHER_SITE, infused_days_ago=30, now=now)
    # The infusions took place; YC-002 also came on Day 14 (two days late) and Day 28.
    for subject, code, late in (("YC-001", "D0", 0), ("YC-002", "D0", 0), ("YC-003", "D0", 0),
                                ("WT-001", "D0", 0), ("WT-002", "D0", 0), ("YC-002", "D14", 4),
                                ("YC-002", "D28", 0)):
        record_on_target(session, subject, code, days_late=late, now=now)
    session.flush()
    return seeded


def record_on_target(session: Session, subject_id: str, code: str, *, days_late: int = 0,
                     now: datetime = NOW) -> None:
    """Complete a visit on its target date (plus ``days_late``)."""
    target = session.scalar(
        select(Visit.target_date).join(Subject, Subject.id == Visit.subject_pk)
        .where(Subject.subject_id == subject_id, Visit.code == code)
    )
    assert target is not None
    complete_visit(session, study=SLE, subject_id=subject_id, code=code,
                   actual_date=target + timedelta(days=days_late), actor=EDC, now=now)
