"""Prepared statements (app.statements) run on the driver's cursor and behave as
SQLAlchemy's own execution does: the same values read and written, the same defaults,
the same errors, seen by the same statement listeners. Both databases."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, event, insert, literal_column, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.db import Outage, make_engine, outage_of
from app.models import AuditRecord, Visit
from app.services.audit import append_audit
from app.services.visits import complete_visit
from app.statements import Prepared
from tests.helpers_subjects import EDC, NOW, SLE, enrol_sle, load_seed_studies

_VISITS = cast(Table, Visit.__table__)
_AUDIT = cast(Table, AuditRecord.__table__)
# Every kind of column the hot path reads: integers, text, dates, booleans, JSON, aware
# timestamps, and NULLs among them.
_EVERY_VISIT_COLUMN = (
    select(*_VISITS.c).where(_VISITS.c.subject_pk == bindparam("pk")).order_by(_VISITS.c.id))
_EVERY_AUDIT_COLUMN = select(*_AUDIT.c).where(_AUDIT.c.subject_id == bindparam("subject"))


def _enrolled_with_history(session: Session) -> int:
    load_seed_studies(session)
    loaded = enrol_sle(session, infusion=date(2026, 2, 1))
    complete_visit(session, study=SLE, subject_id="S-001", code="D14",
                   actual_date=date(2026, 2, 16), note="seen", actor=EDC, now=NOW)
    return loaded.subject.id


def test_a_prepared_read_answers_what_sqlalchemy_reads(session: Session) -> None:
    pk = _enrolled_with_history(session)
    for statement, params in ((_EVERY_VISIT_COLUMN, {"pk": pk}),
                              (_EVERY_AUDIT_COLUMN, {"subject": "S-001"})):
        expected = [tuple(row) for row in session.execute(statement, params)]
        assert len(expected) > 1
        prepared = Prepared(statement)
        assert prepared.rows(session, params) == expected
        assert prepared.first(session, params) == expected[0]
    visits = dict(zip(_VISITS.c.keys(), Prepared(_EVERY_VISIT_COLUMN).rows(
        session, {"pk": pk})[0], strict=True))
    # The values come back as Python's types, not as the database's text.
    assert isinstance(visits["target_date"], date) and isinstance(visits["provisional"], bool)
    assert isinstance(visits["updated_at"], datetime) and visits["updated_at"].tzinfo is not None
    assert isinstance(visits["assessments"], list)


def test_values_written_into_the_statement_are_bound_with_the_given_ones(
    session: Session,
) -> None:
    pk = _enrolled_with_history(session)
    planned = (select(_VISITS.c.code).where(_VISITS.c.subject_pk == bindparam("pk"),
                                            _VISITS.c.state == "planned")
               .order_by(_VISITS.c.id))
    expected = session.scalars(planned, {"pk": pk}).all()
    assert "D14" not in expected and len(expected) > 3  # D14 was completed
    assert [code for (code,) in Prepared(planned).rows(session, {"pk": pk})] == expected


def test_a_prepared_read_of_nothing_is_empty(session: Session) -> None:
    prepared = Prepared(_EVERY_VISIT_COLUMN)
    assert prepared.rows(session, {"pk": -1}) == []
    assert prepared.first(session, {"pk": -1}) is None


def test_prepared_writes_bind_values_and_fill_python_defaults(session: Session) -> None:
    pk = _enrolled_with_history(session)
    row_id, before = session.execute(
        select(_VISITS.c.id, _VISITS.c.updated_at)
        .where(_VISITS.c.subject_pk == pk, _VISITS.c.code == "M3")).one()
    write = Prepared(update(_VISITS).where(_VISITS.c.id == bindparam("row_id")).values(
        state=bindparam("state"), actual_date=bindparam("day"),
        assessments=bindparam("assessments", type_=_VISITS.c.assessments.type)))
    write.execute(session, {"row_id": row_id, "state": "completed",
                            "day": date(2026, 5, 1), "assessments": ["labs", "ecg"]})
    state, day, assessments, after = session.execute(
        select(_VISITS.c.state, _VISITS.c.actual_date, _VISITS.c.assessments,
               _VISITS.c.updated_at).where(_VISITS.c.id == row_id)).one()
    assert (state, day, assessments) == ("completed", date(2026, 5, 1), ["labs", "ecg"])
    assert after > before  # the column's onupdate, as SQLAlchemy fills it

    started = datetime.now(UTC)
    append_audit(session, actor=SYSTEM, action="test.prepared", entity="visit",
                 subject="S-PREP", after={"at": "2026-05-01", "n": 1})
    at, stored = session.execute(select(_AUDIT.c.at, _AUDIT.c.after).where(
        _AUDIT.c.subject_id == "S-PREP")).one()
    assert stored == {"at": "2026-05-01", "n": 1}
    assert started - timedelta(seconds=1) <= at <= datetime.now(UTC)  # the default


def test_a_prepared_write_runs_once_for_each_set_of_parameters(session: Session) -> None:
    pk = _enrolled_with_history(session)
    ids = session.scalars(select(_VISITS.c.id).where(_VISITS.c.subject_pk == pk)
                          .order_by(_VISITS.c.id).limit(2)).all()
    Prepared(update(_VISITS).where(_VISITS.c.id == bindparam("row_id"))
             .values(note=bindparam("note"))).execute_many(
        session, [{"row_id": i, "note": f"note {i}"} for i in ids])
    notes = dict(session.execute(select(_VISITS.c.id, _VISITS.c.note)
                                 .where(_VISITS.c.id.in_(ids))).tuples().all())
    assert len(ids) == 2 and notes == {i: f"note {i}" for i in ids}


def test_a_driver_error_is_sqlalchemys_error_without_the_values(session: Session) -> None:
    secret = "S3cr3t-value-never-logged"
    add = Prepared(insert(_AUDIT).inline(), keys=("actor", "role", "action", "entity"))
    with pytest.raises(sa_exc.IntegrityError) as raised:
        with session.begin_nested():  # rolled back to here; the test's transaction goes on
            add.execute(session, {"actor": secret, "role": None, "action": "x",
                                  "entity": "visit"})
    assert secret not in str(raised.value)
    assert "INSERT INTO audit_records" in str(raised.value)  # the statement's shape
    assert outage_of(raised.value) is None  # a wrong statement, not an outage


def test_statement_listeners_see_prepared_statements(session: Session) -> None:
    seen: list[tuple[str, str]] = []
    connection = session.connection()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(("before", statement))

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(("after", statement))

    event.listen(connection, "before_cursor_execute", before)
    event.listen(connection, "after_cursor_execute", after)
    try:
        Prepared(select(literal_column("1"))).first(session, {})
    finally:
        event.remove(connection, "before_cursor_execute", before)
        event.remove(connection, "after_cursor_execute", after)
    assert [when for when, _ in seen] == ["before", "after"]
    assert all(statement.startswith("SELECT 1") for _, statement in seen)


def test_only_plain_names_with_one_value_each_are_prepared(session: Session) -> None:
    many = Prepared(select(_VISITS.c.id).where(_VISITS.c.code.in_(bindparam("codes",
                                                                            expanding=True))))
    with pytest.raises(TypeError, match="plain names"):
        many.rows(session, {"codes": ["M3"]})


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                    reason="PostgreSQL tests skipped: TEST_DATABASE_URL is not set")
def test_a_connection_lost_under_a_prepared_statement_is_an_outage() -> None:
    url = os.environ["TEST_DATABASE_URL"]
    engine, killer = make_engine(url), make_engine(url)
    try:
        with Session(engine) as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with killer.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(sa_exc.DBAPIError) as raised:
                Prepared(select(literal_column("1"))).first(session, {})
            assert raised.value.connection_invalidated
            assert outage_of(raised.value) is Outage.UNAVAILABLE
            session.rollback()
            # The lost connection left the pool: the next transaction has a live one.
            assert session.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
        killer.dispose()
