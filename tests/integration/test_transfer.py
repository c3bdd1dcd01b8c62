"""A transfer to another site: the history stays with the old site, what comes next goes to
the new one with its time zone and scoping; corrected and removed, it re-evaluates
everything (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM, Actor, Role
from app.errors import Forbidden, InvalidDate, InvalidRequest, NotFound, SubjectEnded
from app.models import Site, Subject, SubjectEvent, Visit
from app.schedule.lifecycle import EventType
from app.services.sites import create_site, link_site
from app.services.subjects.events import correct_event, record_event, remove_event
from app.services.subjects.listing import list_subjects
from app.services.subjects.loading import get_subject
from app.services.visits import complete_visit
from app.services.worklist.page import worklist
from tests.helpers_subjects import EDC, NOW, SLE, audit_of, enrol_sle, load_seed_studies

# NOW is noon on 1 March in Shanghai, and still 28 February, 18:00, in Honolulu.
HONOLULU = "HNL"
YC3H = Actor(name="coord-yc3h", role=Role.COORDINATOR, sites=frozenset({"YC3H"}))
HNL = Actor(name="coord-hnl", role=Role.COORDINATOR, sites=frozenset({HONOLULU}))
WTCH = Actor(name="coord-wtch", role=Role.COORDINATOR, sites=frozenset({"WTCH"}))
TRANSFER_DAY = date(2026, 2, 20)


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seed_studies(session)
    create_site(session, actor=SYSTEM, code=HONOLULU, name="Honolulu", time_zone="Pacific/Honolulu")
    link_site(session, actor=SYSTEM, study=SLE, site=HONOLULU)
    # Infusion 1 February: D14 on 15 February (done), D28 on 1 March, M3 on 1 May.
    enrol_sle(session, "S-001")
    complete_visit(session, study=SLE, subject_id="S-001", code="D14",
                   actual_date=date(2026, 2, 15), actor=EDC, now=NOW)
    session.flush()
    return session


def _transfer(session: Session, day: date = TRANSFER_DAY, to: str = HONOLULU,
              actor: Actor = EDC) -> SubjectEvent:
    _, event = record_event(session, study=SLE, subject_id="S-001", type=EventType.TRANSFER,
                            day=day, value=to, actor=actor, now=NOW)
    return event


def _sites(session: Session) -> dict[str, str]:
    """Each visit's site, by visit code."""
    session.expire_all()
    return dict(session.execute(
        select(Visit.code, Site.code).join(Site, Site.id == Visit.site_id)
        .join(Subject, Subject.id == Visit.subject_pk).where(Subject.subject_id == "S-001")
    ).tuples().all())


def _subject_site(session: Session) -> str:
    session.expire_all()
    code = session.scalar(select(Site.code).join(Subject, Subject.site_id == Site.id)
                          .where(Subject.subject_id == "S-001"))
    assert code is not None
    return code


def test_the_history_stays_and_what_comes_next_moves(seeded: Session) -> None:
    _transfer(seeded)
    sites = _sites(seeded)
    assert sites["D0"] == sites["D14"] == "YC3H"  # dated before the transfer
    assert sites["D28"] == sites["M3"] == sites["M24"] == HONOLULU
    assert _subject_site(seeded) == HONOLULU
    enrolled = seeded.scalar(select(Site.code).join(Subject, Subject.enrolled_site_id == Site.id))
    assert enrolled == "YC3H"
    # "Today" is the new site's: Honolulu is still on 28 February.
    loaded = get_subject(seeded, study=SLE, subject_id="S-001", actor=EDC)
    assert loaded.site.code == HONOLULU and loaded.today(NOW) == date(2026, 2, 28)
    with pytest.raises(InvalidDate, match=r"future \(site date 2026-02-28\)"):
        record_event(seeded, study=SLE, subject_id="S-001", type=EventType.PROGRESSION,
                     day=date(2026, 3, 1), actor=EDC, now=NOW)
    # A visit recorded after the transfer, dated before it, stays with the old site.
    complete_visit(seeded, study=SLE, subject_id="S-001", code="D0",
                   actual_date=date(2026, 2, 1), actor=EDC, now=NOW)
    assert _sites(seeded)["D0"] == "YC3H"


def test_the_transfer_is_audited_with_the_sites_before_and_after(seeded: Session) -> None:
    event = _transfer(seeded)
    record = audit_of(seeded, SLE, "S-001")[-1]
    assert record.action == "event.recorded" and record.key == "transfer"
    assert record.site_code == "YC3H"  # recorded while the subject was there
    assert record.before == {"lifecycle": "active", "site": "YC3H"}
    assert record.after is not None
    assert {k: record.after[k] for k in ("id", "type", "date", "value", "site")} == {
        "id": event.id, "type": "transfer", "date": "2026-02-20", "value": HONOLULU,
        "site": HONOLULU}
    moved = {c["code"]: (c["before"]["site"], c["after"]["site"])
             for c in record.after["visits_changed"] if "site" in c["after"]}
    assert moved["D28"] == ("YC3H", HONOLULU) and "D14" not in moved


def test_each_site_sees_its_share(seeded: Session) -> None:
    _transfer(seeded)
    old = {r.visit for r in worklist(seeded, actor=YC3H, lifecycles=None, now=NOW, limit=500).rows}
    new = worklist(seeded, actor=HNL, lifecycles=None, now=NOW, limit=500).rows
    assert {"D0", "D14"} <= old and "D28" not in old
    assert {"D28", "M3"} <= {r.visit for r in new} and "D14" not in {r.visit for r in new}
    assert {r.as_of for r in new} == {date(2026, 2, 28)}  # the new site's date
    # The subject is listed at its current site only.
    assert [s.subject_id for s in list_subjects(seeded, study=SLE, actor=HNL).items] == ["S-001"]
    assert list_subjects(seeded, study=SLE, actor=YC3H).items == []
    # The new site changes the subject; the old one reads it and records its own visits.
    record_event(seeded, study=SLE, subject_id="S-001", type=EventType.RESPONSE,
                 day=date(2026, 2, 25), value="DORIS", actor=HNL, now=NOW)
    assert get_subject(seeded, study=SLE, subject_id="S-001", actor=YC3H).site.code == HONOLULU
    complete_visit(seeded, study=SLE, subject_id="S-001", code="D0",
                   actual_date=date(2026, 2, 1), actor=YC3H, now=NOW)
    with pytest.raises(Forbidden, match="visit D28 of subject S-001 belongs to site HNL"):
        complete_visit(seeded, study=SLE, subject_id="S-001", code="D28",
                       actual_date=date(2026, 2, 27), actor=YC3H, now=NOW)
    with pytest.raises(Forbidden, match="transferred to site HNL"):
        record_event(seeded, study=SLE, subject_id="S-001", type=EventType.PROGRESSION,
                     day=date(2026, 2, 26), actor=YC3H, now=NOW)
    with pytest.raises(NotFound):  # a site the subject never was at
        get_subject(seeded, study=SLE, subject_id="S-001", actor=WTCH)


def test_a_transfer_goes_to_another_site_of_the_study(seeded: Session) -> None:
    for site in ("MM01", "NOWHERE"):  # another study's site; no such site: the same answer
        with pytest.raises(InvalidRequest, match=f"site {site} does not take part in study"):
            _transfer(seeded, to=site)
    with pytest.raises(InvalidRequest, match="already at site YC3H on 2026-02-20"):
        _transfer(seeded, to="YC3H")
    _transfer(seeded)
    with pytest.raises(InvalidRequest, match="two transfers on 2026-02-20"):
        _transfer(seeded, to="WTCH")
    with pytest.raises(InvalidRequest, match="needs a value"):
        record_event(seeded, study=SLE, subject_id="S-001", type=EventType.TRANSFER,
                     day=TRANSFER_DAY, actor=EDC, now=NOW)


def test_no_transfer_after_the_end_of_follow_up(seeded: Session) -> None:
    record_event(seeded, study=SLE, subject_id="S-001", type=EventType.WITHDRAWAL,
                 day=date(2026, 2, 18), actor=EDC, now=NOW)
    with pytest.raises(SubjectEnded, match="after the withdrawal"):
        _transfer(seeded)


def test_correcting_or_removing_the_transfer_re_evaluates_the_sites(seeded: Session) -> None:
    event = _transfer(seeded)
    correct_event(seeded, study=SLE, subject_id="S-001", event_id=event.id,
                  day=date(2026, 2, 10), reason="the date the records arrived, not the move",
                  actor=EDC, now=NOW)
    assert _sites(seeded)["D14"] == HONOLULU  # done on 15 February, now after the move
    corrected = audit_of(seeded, SLE, "S-001")[-1]
    assert corrected.action == "event.corrected"
    assert corrected.reason == "the date the records arrived, not the move"
    assert corrected.before is not None and corrected.after is not None
    assert (corrected.before["date"], corrected.after["date"]) == ("2026-02-20", "2026-02-10")
    # The destination is corrected like any value, and checked the same way.
    with pytest.raises(InvalidRequest, match="does not take part"):
        correct_event(seeded, study=SLE, subject_id="S-001", event_id=event.id, value="MM01",
                      reason="wrong site", actor=EDC, now=NOW)
    correct_event(seeded, study=SLE, subject_id="S-001", event_id=event.id, value="WTCH",
                  reason="moved to the other site", actor=EDC, now=NOW)
    assert _subject_site(seeded) == "WTCH" and _sites(seeded)["M3"] == "WTCH"
    remove_event(seeded, study=SLE, subject_id="S-001", event_id=event.id,
                 reason="recorded on the wrong subject", actor=EDC, now=NOW)
    assert _subject_site(seeded) == "YC3H"
    assert set(_sites(seeded).values()) == {"YC3H"}
    removed = audit_of(seeded, SLE, "S-001")[-1]
    assert removed.action == "event.removed" and removed.before is not None
    assert {k: removed.before[k] for k in ("id", "type", "date", "value", "site")} == {
        "id": event.id, "type": "transfer", "date": "2026-02-10", "value": "WTCH",
        "site": "WTCH"}
    assert removed.after is not None and removed.after["site"] == "YC3H"
    assert seeded.get(SubjectEvent, event.id) is None


def test_removing_a_transfer_that_a_later_one_needs_is_refused(seeded: Session) -> None:
    first = _transfer(seeded)
    _transfer(seeded, day=date(2026, 2, 25), to="YC3H")  # and back
    with pytest.raises(InvalidRequest, match="already at site YC3H on 2026-02-25"):
        remove_event(seeded, study=SLE, subject_id="S-001", event_id=first.id,
                     reason="never happened", actor=EDC, now=NOW)
