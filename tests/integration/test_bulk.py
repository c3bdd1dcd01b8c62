"""Bulk enrolment from CSV: same rows as a single enrolment, every bad row, all or nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.access import SYSTEM, Actor, Role
from app.errors import InvalidRows
from app.models import AnchorDateRow, AuditRecord, Subject, Visit
from app.services.bulk.csv_import import import_csv
from app.services.bulk.enroller import enrol_many
from app.services.bulk.rows import Enrolment
from tests.helpers_subjects import EDC, MM, NOW, SLE, enrol_sle, load_seed_studies, load_small_study

HEADER = "subject_id,site,consent_date,date_of_birth,infusion,infusion_planned\n"
VISIT_FIELDS = (
    "code", "name", "phase", "kind", "optional", "unscheduled", "state", "target_date",
    "window_start", "window_end", "upcoming_from", "study_day", "provisional", "actual_date",
    "assessments", "reason", "site_id", "study_id",
)


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seed_studies(session)
    return session


def run(session: Session, text: str, *, study: str = SLE, skip: bool = False,
        chunk_rows: int = 1000, actor: Actor = EDC) -> object:
    return import_csv(session, study_code=study, actor=actor, lines=text.splitlines(keepends=True),
                      skip_invalid=skip, now=NOW, chunk_rows=chunk_rows)


def count(session: Session, model: type, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


def visits_of(session: Session, subject_id: str) -> list[tuple[object, ...]]:
    pk = session.scalar(select(Subject.id).where(Subject.subject_id == subject_id))
    rows = session.scalars(select(Visit).where(Visit.subject_pk == pk).order_by(Visit.code))
    return [tuple(getattr(v, f) for f in VISIT_FIELDS) for v in rows]


def test_imported_rows_equal_a_single_enrolment(seeded: Session) -> None:
    enrol_sle(seeded, "ONE", consent=date(2026, 1, 5), infusion=date(2026, 2, 1))
    enrol_sle(seeded, "PLANNED", consent=date(2026, 1, 5), infusion=date(2026, 3, 20),
              actual=False)
    result = run(seeded, HEADER + "BULK-1,YC3H,2026-01-05,1980-05-01,2026-02-01,false\n"
                 "BULK-2,YC3H,2026-01-05,1980-05-01,2026-03-20,true\n")
    assert result.imported == 2  # type: ignore[attr-defined]
    seeded.expire_all()
    assert visits_of(seeded, "BULK-1") == visits_of(seeded, "ONE")
    assert visits_of(seeded, "BULK-2") == visits_of(seeded, "PLANNED")
    assert len(visits_of(seeded, "BULK-1")) == result.visits / 2  # type: ignore[attr-defined]
    anchors = seeded.execute(
        select(AnchorDateRow.name, AnchorDateRow.date, AnchorDateRow.actual)
        .join(Subject, Subject.id == AnchorDateRow.subject_pk)
        .where(Subject.subject_id == "BULK-2").order_by(AnchorDateRow.name)
    ).all()
    assert anchors == [("consent", date(2026, 1, 5), True), ("infusion", date(2026, 3, 20), False)]
    single, bulk = (
        seeded.scalars(select(AuditRecord).where(AuditRecord.subject_id == s)).one()
        for s in ("ONE", "BULK-1")
    )
    assert (bulk.action, bulk.entity, bulk.actor, bulk.site_code) == (
        single.action, single.entity, single.actor, single.site_code)
    assert bulk.after == single.after


def test_consent_anchor_comes_from_the_consent_date(seeded: Session) -> None:
    run(seeded, HEADER.replace("infusion_planned", "infusion_status")
        + "MM-1,MM01,2026-01-10,1970-01-01,2026-02-20,planned\n", study=MM)
    anchors = dict(seeded.execute(
        select(AnchorDateRow.name, AnchorDateRow.date).join(Subject)
        .where(Subject.subject_id == "MM-1")).tuples().all())
    assert anchors == {"consent": date(2026, 1, 10), "infusion": date(2026, 2, 20)}


def test_every_bad_row_is_reported_and_nothing_is_imported(seeded: Session) -> None:
    text = HEADER + (
        "OK-1,YC3H,2026-01-05,1980-05-01,2026-02-01,false\n"
        "OK-2,NOPE,2026-01-05,1980-05-01,,\n"
        "OK-3,YC3H,2026-13-05,1980-05-01,,\n"
        "OK-4,YC3H,2026-01-05,2020-05-01,,\n"
        "OK-5,YC3H,2026-01-05,1980-05-01,2026-04-01,false\n"
        "OK-6,YC3H,2026-01-05\n"
        "\n"
        "OK-1,WTCH,2026-01-05,1980-05-01,,\n"
        "OK-8,YC3H,2026-01-05,1980-05-01,2026-04-01,maybe\n"
    )
    # The caller's transaction (here a savepoint) is what the raised error rolls back.
    with pytest.raises(InvalidRows) as caught, seeded.begin_nested():
        run(seeded, text, chunk_rows=3)
    lines = {(e["index"], e["field"]) for e in caught.value.extra["errors"]}
    assert lines == {
        (3, "site"), (4, "consent_date"), (5, "date_of_birth"), (6, "infusion"), (7, ""),
        (9, "subject_id"), (10, "infusion flag"),
    }
    messages = {e["index"]: e["message"] for e in caught.value.extra["errors"]}
    assert "future" in messages[6] and "appears earlier" in messages[9]
    assert "age 5" in messages[5]
    assert count(seeded, Subject) == 0 and count(seeded, Visit) == 0


def test_skip_invalid_imports_the_good_rows(seeded: Session) -> None:
    result = run(seeded, HEADER + "A,YC3H,2026-01-05,1980-05-01,,\n"
                 "B,YC3H,2027-01-05,1980-05-01,,\nC,WTCH,2026-01-05,1980-05-01,,\n", skip=True)
    assert (result.imported, result.skipped) == (2, 1)  # type: ignore[attr-defined]
    assert [p.line("f.csv") for p in result.problems] == [  # type: ignore[attr-defined]
        "f.csv:3: consent_date: 2027-01-05 is in the future (site date 2026-03-01)"]
    assert count(seeded, Subject) == 2
    # Infusion unknown: the whole calendar waits for it.
    assert {v[6] for v in visits_of(seeded, "A")} == {"pending"}


def test_duplicates_against_the_study_and_across_chunks(seeded: Session) -> None:
    enrol_sle(seeded, "OLD")
    rows = "".join(f"N{i},YC3H,2026-01-05,1980-05-01,,\n" for i in range(5))
    with pytest.raises(InvalidRows) as caught, seeded.begin_nested():
        run(seeded, HEADER + rows + "OLD,WTCH,2026-01-05,1980-05-01,,\nN1,YC3H,2026-01-05,"
            "1980-05-01,,\n", chunk_rows=2)
    errors = caught.value.extra["errors"]
    assert [(e["index"], e["message"]) for e in errors] == [
        (7, f"OLD is already enrolled in {SLE}"), (8, "N1 appears earlier in this input")]
    assert count(seeded, Subject) == 1


def test_target_enrolment_is_a_row_error(session: Session) -> None:
    code = load_small_study(session, target=2)
    rows = "".join(f"T{i},YC3H,2026-01-05,1980-05-01,,\n" for i in range(3))
    result = run(session, HEADER + rows, study=code, skip=True, actor=SYSTEM)
    assert result.imported == 2  # type: ignore[attr-defined]
    assert "is full" in result.problems[0].message  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("subject_id,site,consent_date,infusion\n",
         {("date_of_birth", "required column is missing")}),
        ("subject_id,site,consent_date,date_of_birth,transplant\n",
         {("transplant", "unknown column (expected subject_id, site, consent_date, date_of_birth"
           " or an anchor)")}),
        ("subject_id,site,consent_date,date_of_birth,infusion_planned\n",
         {("infusion_planned", "there is no infusion column")}),
    ],
)
def test_header_problems(seeded: Session, header: str, expected: set[tuple[str, str]]) -> None:
    with pytest.raises(InvalidRows) as caught:
        run(seeded, header + "X,YC3H,2026-01-05,1980-05-01,\n")
    assert {(e["field"], e["message"]) for e in caught.value.extra["errors"]} == expected
    assert {e["index"] for e in caught.value.extra["errors"]} == {1}


def test_a_control_character_in_a_cell_is_a_row_problem_naming_its_column(
    seeded: Session,
) -> None:
    result = run(seeded, HEADER + (
        "C-1,YC3H\x00,2026-01-05,1980-05-01,,\n"
        "C\x1b-2,YC3H,2026-01-05,1980-05-01,,\n"
        "C-3,YC3H,2026-01-05\x00,1980-05-01,,\n"
        "C-4,YC3H,2026-01-05,1980-05-01,2026-02-01,tr\x7fue\n"
        "C-5,YC3H,2026-01-05,1980-05-01,2026-02-01,false\n"
    ), skip=True)
    assert result.imported == 1  # type: ignore[attr-defined]
    assert [p.line("f.csv") for p in result.problems] == [  # type: ignore[attr-defined]
        "f.csv:2: site: contains a control character (U+0000 at position 5); none is allowed",
        "f.csv:3: subject_id: contains a control character (U+001B at position 2);"
        " none is allowed",
        "f.csv:4: consent_date: contains a control character (U+0000 at position 11);"
        " none is allowed",
        "f.csv:5: infusion_planned: contains a control character (U+007F at position 3);"
        " none is allowed",
    ]


def test_a_control_character_in_a_column_name_names_the_column_by_its_place(
    seeded: Session,
) -> None:
    with pytest.raises(InvalidRows) as caught:
        run(seeded, "subject_id,site,consent_date,date_of_birth,infusion\x00\n")
    assert [(e["index"], e["field"], e["message"]) for e in caught.value.extra["errors"]] == [
        (1, "column 5", "the column name contains a control character (U+0000 at position 9);"
         " none is allowed")]


def test_enrol_many_is_all_or_nothing_with_indexes(seeded: Session) -> None:
    good = Enrolment("G1", "YC3H", date(2026, 1, 5), date(1980, 5, 1))
    bad = Enrolment("G2", "YC3H", date(2026, 1, 5), date(1940, 5, 1))
    with pytest.raises(InvalidRows) as caught, seeded.begin_nested():
        enrol_many(seeded, study_code=SLE, actor=EDC, rows=[good, bad], now=NOW)
    errors = caught.value.extra["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "date_of_birth")]
    result = enrol_many(seeded, study_code=SLE, actor=EDC, rows=[good], now=NOW)
    assert result.imported == 1


def test_an_unreadable_line_stops_the_import(seeded: Session) -> None:
    huge = "x" * 200_000  # over the csv module's field size limit
    with pytest.raises(InvalidRows) as caught, seeded.begin_nested():
        run(seeded, HEADER + f"A,XX,2026-01-05,1980-05-01,,\nB,{huge},2026-01-05,,,\n",
            skip=True)
    errors = caught.value.extra["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(2, "site"), (3, "")]
    assert "cannot be read from here on: field larger than field limit" in errors[1]["message"]


def test_imported_rows_name_the_person_and_the_token(seeded: Session) -> None:
    person = Actor(name="li.wei.laptop", role=Role.COORDINATOR, sites=frozenset({"YC3H"}),
                   user="li.wei", display_name="Dr Li Wei", token="li.wei.laptop")
    result = run(seeded, HEADER + "BULK-P,YC3H,2026-01-05,1980-05-01,2026-02-01,true\n",
                 actor=person)
    assert result.imported == 1  # type: ignore[attr-defined]
    record = seeded.scalars(select(AuditRecord).where(AuditRecord.subject_id == "BULK-P")).one()
    assert (record.actor, record.role, record.user_name, record.user_display_name,
            record.token_name) == ("li.wei.laptop", "coordinator", "li.wei", "Dr Li Wei",
                                   "li.wei.laptop")
