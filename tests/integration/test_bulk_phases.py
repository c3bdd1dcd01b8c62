"""Bulk enrolment and conditional phases: an anchor recorded by a visit of a phase not
open cannot be actual, as in a single enrolment, unless the row's own events open it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidRows
from app.models import AnchorDateRow, Subject, Visit
from app.schedule.expand import AnchorDate
from app.schedule.lifecycle import Event, EventType
from app.services.bulk.csv_import import import_csv
from app.services.bulk.enroller import BulkEnroller, enrol_many
from app.services.bulk.rows import Enrolment, History
from app.services.subjects.enrolment import enrol
from tests.helpers_subjects import EDC, MM, NOW, load_seed_studies

HEADER = "subject_id,site,consent_date,date_of_birth,infusion,transplant,transplant_planned\n"
# What POST .../subjects answers (409) for the same anchors: the import says it too.
NOT_OPEN = ("anchor transplant cannot have an actual date: it is recorded by visit HSCT-D0"
            " of phase HSCT, which has not opened (waiting for response CR/sCR): record the"
            " response that opens it first, or send a planned date (actual: false)")
ANCHORS = {"infusion": AnchorDate(date(2026, 1, 30)), "transplant": AnchorDate(date(2026, 2, 20))}


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seed_studies(session)
    return session


def subjects(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Subject)) or 0


def run(session: Session, text: str, *, skip: bool = False) -> object:
    return import_csv(session, study_code=MM, actor=EDC, lines=text.splitlines(keepends=True),
                      skip_invalid=skip, now=NOW)


def test_a_single_enrolment_refuses_it_with_these_words(seeded: Session) -> None:
    with pytest.raises(Conflict) as caught, seeded.begin_nested():
        enrol(seeded, study=MM, subject_id="ONE", site="MM01", consent_date=date(2026, 1, 10),
              date_of_birth=date(1970, 1, 1), anchors=ANCHORS, actor=EDC, now=NOW)
    assert caught.value.detail == NOT_OPEN


def test_the_csv_import_refuses_an_actual_transplant_before_the_phase_opens(
    seeded: Session,
) -> None:
    text = HEADER + ("MM-1,MM01,2026-01-10,1970-01-01,2026-01-30,2026-02-20,false\n"
                     "MM-2,MM01,2026-01-10,1970-01-01,2026-01-30,,\n")
    with pytest.raises(InvalidRows) as caught, seeded.begin_nested():
        run(seeded, text)
    assert caught.value.extra["errors"] == [
        {"index": 2, "field": "transplant", "message": NOT_OPEN}]
    assert subjects(seeded) == 0


def test_skipping_invalid_rows_imports_the_others(seeded: Session) -> None:
    text = HEADER + ("MM-1,MM01,2026-01-10,1970-01-01,2026-01-30,2026-02-20,\n"
                     "MM-2,MM01,2026-01-10,1970-01-01,2026-01-30,,\n")
    result = run(seeded, text, skip=True)
    assert [p.line("in.csv") for p in result.problems] == [  # type: ignore[attr-defined]
        f"in.csv:2: transplant: {NOT_OPEN}"]
    assert seeded.scalars(select(Subject.subject_id)).all() == ["MM-2"]


def test_a_planned_transplant_is_imported(seeded: Session) -> None:
    run(seeded, HEADER + "MM-1,MM01,2026-01-10,1970-01-01,2026-01-30,2026-02-20,true\n")
    stored = seeded.execute(select(AnchorDateRow.date, AnchorDateRow.actual)
                            .where(AnchorDateRow.name == "transplant")).one()
    assert tuple(stored) == (date(2026, 2, 20), False)
    d0 = seeded.scalars(select(Visit.state).where(Visit.code == "HSCT-D0")).one()
    assert d0 == "pending"


def test_the_batch_refuses_it_naming_the_item(seeded: Session) -> None:
    rows = [Enrolment("B-0", "MM01", date(2026, 1, 10), date(1970, 1, 1),
                      {"infusion": AnchorDate(date(2026, 1, 30))}),
            Enrolment("B-1", "MM01", date(2026, 1, 10), date(1970, 1, 1), ANCHORS)]
    with pytest.raises(InvalidRows) as caught, seeded.begin_nested():
        enrol_many(seeded, study_code=MM, actor=EDC, rows=rows, now=NOW)
    assert caught.value.extra["errors"] == [{"index": 1, "field": "transplant",
                                             "message": NOT_OPEN}]
    assert subjects(seeded) == 0


@pytest.mark.parametrize(("value", "imported"), [
    pytest.param("CR", 1, id="complete-response-opens-it"),
    pytest.param("VGPR", 0, id="other-response-does-not"),
])
def test_a_row_whose_own_events_open_the_phase_is_accepted(
    seeded: Session, value: str, imported: int
) -> None:
    # Only generated histories (the demo data) carry events with a row.
    row = Enrolment("H-1", "MM01", date(2026, 1, 10), date(1970, 1, 1), ANCHORS)
    history = History(events=(Event(EventType.RESPONSE, date(2026, 2, 10), value),))
    enroller = BulkEnroller(seeded, study_code=MM, actor=EDC, now=NOW, skip_invalid=True)
    enroller.add([(0, row, history)])
    result = enroller.finish()
    assert (result.imported, [p.message for p in result.problems]) == (
        imported, [] if imported else [NOT_OPEN])
    if imported:
        d0 = seeded.execute(select(Visit.state, Visit.actual_date)
                            .where(Visit.code == "HSCT-D0")).one()
        assert tuple(d0) == ("completed", date(2026, 2, 20))
