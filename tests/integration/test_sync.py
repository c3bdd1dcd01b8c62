"""Stored visit rows follow the calendar: what moves, what never moves, how many queries."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.models import AnchorDateRow, SubjectEvent, Visit
from app.schedule.expand import AnchorDate, expand
from app.services.subjects.loading import LoadedSubject
from app.services.subjects.sync import (
    _SCHEDULE,
    _StoredRow,
    read_events,
    read_facts,
    sync_subject,
)
from app.services.subjects.visit_rows import (
    SCHEDULE_COLUMNS,
    stored_calendar,
    visit_row_values,
)
from tests.helpers_subjects import enrol_sle, load_seed_studies


def _rows(session: Session, subject_pk: int) -> dict[str, Visit]:
    return {v.code: v for v in session.scalars(select(Visit).where(Visit.subject_pk == subject_pk))}


def test_visit_row_values_maps_an_expansion(session: Session) -> None:
    load_seed_studies(session)
    loaded = enrol_sle(session)
    plan = loaded.plan
    expansion = expand(plan, {"infusion": AnchorDate(date(2026, 2, 1), actual=False)})
    rows = visit_row_values(expansion, subject_pk=7, study_id=8, site_id=9, upcoming_days=7)
    assert [r["code"] for r in rows] == [v.code for v in plan.visits]
    assert len({frozenset(r) for r in rows}) == 1  # same keys: fit for executemany
    d14 = next(r for r in rows if r["code"] == "D14")
    assert (d14["subject_pk"], d14["study_id"], d14["site_id"]) == (7, 8, 9)
    assert (d14["target_date"], d14["window_start"], d14["window_end"]) == (
        date(2026, 2, 15), date(2026, 2, 13), date(2026, 2, 17))
    assert d14["upcoming_from"] == date(2026, 2, 6)
    assert d14["study_day"] == 14 and d14["provisional"] is True and d14["state"] == "planned"


def test_enrolment_stores_one_row_per_planned_visit(session: Session) -> None:
    load_seed_studies(session)
    loaded = enrol_sle(session)
    rows = _rows(session, loaded.subject.id)
    assert set(rows) == {v.code for v in loaded.plan.visits}
    assert rows["M3"].target_date == date(2026, 5, 1)
    assert rows["M3"].upcoming_from == date(2026, 4, 17)
    assert all(r.study_id == loaded.study.id and r.site_id == loaded.site.id for r in rows.values())


def test_sync_moves_every_row_and_keeps_the_outcome_of_done_ones(session: Session) -> None:
    load_seed_studies(session)
    loaded = enrol_sle(session)
    rows = _rows(session, loaded.subject.id)
    rows["D14"].state, rows["D14"].actual_date = "completed", date(2026, 2, 15)
    rows["D28"].state, rows["D28"].reason = "missed", "patient travelling"
    session.flush()
    anchor = _anchor_rows(session, loaded)[0]
    anchor.date = date(2026, 2, 11)
    session.flush()
    result = sync_subject(session, loaded.subject, loaded.plan)
    rows = _rows(session, loaded.subject.id)
    # Done rows are re-evaluated: their dates follow the anchor, their outcome stays.
    assert rows["D14"].target_date == date(2026, 2, 25)
    assert (rows["D14"].state, rows["D14"].actual_date) == ("completed", date(2026, 2, 15))
    assert rows["D28"].target_date == date(2026, 3, 11)
    assert (rows["D28"].state, rows["D28"].reason) == ("missed", "patient travelling")
    assert rows["M3"].target_date == date(2026, 5, 11)  # moved by ten days
    assert rows["M3"].upcoming_from == date(2026, 4, 27)
    changed = {c["code"] for c in result.changed}
    assert {"M3", "D14", "D28"} <= changed
    d14 = next(c for c in result.changed if c["code"] == "D14")
    assert "state" not in d14["after"] and "actual_date" not in d14["after"]
    m3 = next(c for c in result.changed if c["code"] == "M3")
    assert m3["before"]["target_date"] == "2026-05-01"
    assert m3["after"]["target_date"] == "2026-05-11"
    # A second sync has nothing left to do.
    assert sync_subject(session, loaded.subject, loaded.plan).changed == []


def test_sync_inserts_rows_for_codes_it_lacks(session: Session) -> None:
    load_seed_studies(session)
    loaded = enrol_sle(session)
    rows = _rows(session, loaded.subject.id)
    session.delete(rows["M24"])
    session.flush()
    result = sync_subject(session, loaded.subject, loaded.plan)
    assert result.created == ["M24"]
    assert _rows(session, loaded.subject.id)["M24"].target_date == date(2028, 2, 1)


def test_sync_and_calendar_use_a_handful_of_queries(session: Session) -> None:
    load_seed_studies(session)
    loaded = enrol_sle(session)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    bind = session.connection()
    event.listen(bind, "before_cursor_execute", count)
    try:
        anchor = _anchor_rows(session, loaded)[0]
        anchor.date += timedelta(days=3)
        session.flush()
        statements.clear()
        sync_subject(session, loaded.subject, loaded.plan)
        sync_queries = len(statements)
        statements.clear()
        calendar = stored_calendar(session, loaded.subject, loaded.plan, today=date(2026, 3, 1))
        calendar_queries = len(statements)
    finally:
        event.remove(bind, "before_cursor_execute", count)
    # 3 reads + the updates (one executemany, or a few statements for differing columns)
    assert sync_queries <= 6, statements
    assert calendar_queries == 3
    assert len(calendar.visits) == len(loaded.plan.visits)



def _anchor_rows(session: Session, loaded: LoadedSubject) -> list[AnchorDateRow]:
    return list(session.scalars(
        select(AnchorDateRow).where(AnchorDateRow.subject_pk == loaded.subject.id,
                                    AnchorDateRow.name == "infusion")
    ))


def test_a_read_rows_schedule_columns_sit_where_the_sync_compares_them() -> None:
    # The sync compares a stored row's slice with a fresh expansion's values, in
    # SCHEDULE_COLUMNS order: a reordered row would compare the wrong columns.
    assert _StoredRow._fields[_SCHEDULE] == SCHEDULE_COLUMNS


def test_the_facts_read_in_one_trip_are_the_anchors_events_and_rows_read_apart(
    session: Session,
) -> None:
    load_seed_studies(session)
    loaded = enrol_sle(session)
    pk = loaded.subject.id
    session.add_all([
        SubjectEvent(subject_pk=pk, type="response", date=date(2026, 5, 2), value="CR"),
        SubjectEvent(subject_pk=pk, type="progression", date=date(2026, 4, 1)),
        SubjectEvent(subject_pk=pk, type="response", date=date(2026, 4, 1), value="PR"),
    ])
    session.flush()
    facts = read_facts(session, pk)
    anchors, events = facts.anchors, facts.events
    stored = {r.name: AnchorDate(r.date, r.actual) for r in session.scalars(
        select(AnchorDateRow).where(AnchorDateRow.subject_pk == pk).order_by(AnchorDateRow.id))}
    assert anchors == stored and list(anchors) == list(stored) and anchors
    assert events == read_events(session, pk)
    assert [(e.date, e.value) for e in events] == [
        (date(2026, 4, 1), None), (date(2026, 4, 1), "PR"), (date(2026, 5, 2), "CR")]
    # Every visit row, by id, each column with its own type (dates as dates, the
    # assessments as a list), as the ORM reads the same rows.
    visits = session.scalars(select(Visit).where(Visit.subject_pk == pk).order_by(Visit.id)).all()
    assert len(facts.rows) == len(visits) > 10
    for row, visit in zip(facts.rows, visits, strict=True):
        assert row._asdict() == {name: getattr(visit, name) for name in row._fields}
    assert isinstance(facts.rows[0].target_date, date)
    assert any(row.assessments for row in facts.rows)
