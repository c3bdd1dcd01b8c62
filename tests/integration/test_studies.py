"""Studies and sites services on a real database: visibility, description, site changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.access import SYSTEM, Actor, Role
from app.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound
from app.models import AuditRecord, Site, StudySite
from app.services import sites
from app.services.studies import describe_study, get_study, list_studies
from tests.helpers_worklist import MM, SLE, add_site, add_subject, load_seeds

NURSE = Actor(name="nurse", role=Role.COORDINATOR, sites=frozenset({"YC3H"}))
MM_EDC = Actor(name="edc", role=Role.EDC, studies=frozenset({MM}))


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seeds(session)
    return session


def audit_count(session: Session, action: str) -> int:
    return session.scalar(
        select(func.count(AuditRecord.id)).where(AuditRecord.action == action)
    ) or 0


def test_list_studies_counts_every_subject_and_scopes_sites(seeded: Session) -> None:
    add_subject(seeded, SLE, "YC3H", "A")
    add_subject(seeded, SLE, "WTCH", "B")
    add_subject(seeded, MM, "MM01", "C")
    every = {s.code: s for s in list_studies(seeded, actor=SYSTEM)}
    assert (every[SLE].enrolled, every[MM].enrolled) == (2, 1)
    assert every[SLE].sites == ("WTCH", "YC3H") and every[SLE].version == "1.1"
    [mine] = list_studies(seeded, actor=NURSE)
    # The enrolment counts against the study's target, so it stays the study's total.
    assert (mine.code, mine.enrolled, mine.sites) == (SLE, 2, ("YC3H",))
    assert [s.code for s in list_studies(seeded, actor=MM_EDC)] == [MM]


def test_get_study_hides_what_a_token_may_not_see(seeded: Session) -> None:
    assert get_study(seeded, SLE, NURSE).code == SLE
    for actor, code in [(NURSE, MM), (MM_EDC, SLE), (SYSTEM, "NOPE")]:
        with pytest.raises(NotFound, match=f"study {code} not found"):
            get_study(seeded, code, actor)


def test_describe_study(seeded: Session) -> None:
    described = describe_study(seeded, code=MM, actor=SYSTEM)
    assert described.version.version == "1.1"
    assert [p.code for p in described.plan.phases] == ["HSCT"]
    assert [s.code for s in described.sites] == ["MM01"]
    assert [v.version for v in described.versions] == ["1.1"]
    assert described.enrolled == 0


def test_site_visibility(seeded: Session) -> None:
    add_site(seeded, "BOTH", "UTC", studies=[SLE, MM])
    add_site(seeded, "LONE", "UTC")
    assert [s.code for s in sites.list_sites(seeded, actor=SYSTEM)] == [
        "BOTH", "LONE", "MM01", "WTCH", "YC3H"
    ]
    assert [s.code for s in sites.list_sites(seeded, actor=NURSE)] == ["YC3H"]
    mm_sites = sites.list_sites(seeded, actor=MM_EDC)
    assert [(s.code, s.studies) for s in mm_sites] == [("BOTH", (MM,)), ("MM01", (MM,))]
    with pytest.raises(NotFound):
        sites.get_site(seeded, code="LONE", actor=MM_EDC)


def test_create_update_and_link_are_audited(seeded: Session) -> None:
    view = sites.create_site(seeded, actor=SYSTEM, code="SH02", name="Renji",
                             time_zone="Asia/Shanghai")
    assert (view.code, view.digest_time, view.studies) == ("SH02", "07:00", ())
    with pytest.raises(AlreadyExists):
        sites.create_site(seeded, actor=SYSTEM, code="SH02", name="x", time_zone="UTC")
    updated = sites.update_site(seeded, actor=SYSTEM, code="SH02", name="Renji Hospital")
    assert updated.name == "Renji Hospital"
    assert sites.link_site(seeded, actor=SYSTEM, study=SLE, site="SH02").created is True
    assert sites.link_site(seeded, actor=SYSTEM, study=SLE, site="SH02").created is False
    assert sites.get_site(seeded, code="SH02", actor=SYSTEM).studies == (SLE,)
    # The seed sites' creation is audited too, by the protocol load.
    assert audit_count(seeded, "site.created") == 4
    assert audit_count(seeded, "site.updated") == 1
    assert audit_count(seeded, "site.linked") == 1


def test_refusals(seeded: Session) -> None:
    for bad in ("Mars/Base", "", "../etc/passwd", "Asia/Shanghai\x00"):
        with pytest.raises(InvalidRequest, match="IANA"):
            sites.create_site(seeded, actor=SYSTEM, code="X1", name="x", time_zone=bad)
    with pytest.raises(InvalidRequest, match="HH:MM"):
        sites.update_site(seeded, actor=SYSTEM, code="YC3H", digest_time="24:00")
    with pytest.raises(InvalidRequest, match="site code"):
        sites.create_site(seeded, actor=SYSTEM, code="-bad", name="x", time_zone="UTC")
    with pytest.raises(Forbidden):
        sites.create_site(seeded, actor=NURSE, code="X1", name="x", time_zone="UTC")
    with pytest.raises(Forbidden):
        sites.link_site(seeded, actor=MM_EDC, study=MM, site="YC3H")
    with pytest.raises(NotFound):
        sites.link_site(seeded, actor=SYSTEM, study="NOPE", site="YC3H")
    assert seeded.scalar(select(func.count(Site.id))) == 3
    assert seeded.scalar(select(func.count(StudySite.id))) == 3
