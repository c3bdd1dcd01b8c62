"""A bulk row's problems: every one of them, each under its own column."""

from __future__ import annotations

from datetime import date

from app.schedule.expand import AnchorDate
from app.services.bulk.checks import check_enrolment
from app.services.bulk.rows import Enrolment
from tests.helpers_schedule import sle_plan

TODAY = date(2026, 3, 1)


def row(consent: date, born: date, **anchors: AnchorDate) -> Enrolment:
    # The enroller adds the consent anchor before the check, as here.
    return Enrolment("S-1", "YC3H", consent, born, {"consent": AnchorDate(consent), **anchors})


def test_a_good_row_has_no_problem() -> None:
    good = row(date(2026, 1, 5), date(1980, 5, 1), infusion=AnchorDate(date(2026, 2, 1)))
    assert check_enrolment(sle_plan(), good, today=TODAY) == []


def test_every_problem_of_a_row_is_reported_under_its_column() -> None:
    bad = row(date(2026, 3, 2), date(2026, 3, 3), infusion=AnchorDate(date(2026, 4, 1)),
              transplant=AnchorDate(date(2026, 2, 1)))
    bad = Enrolment("bad id!", bad.site, bad.consent_date, bad.date_of_birth, bad.anchors)
    assert check_enrolment(sle_plan(), bad, today=TODAY) == [
        ("subject_id", '"bad id!" is not a subject id (letters, digits, _ . + -, at most 40)'),
        ("consent_date", "2026-03-02 is in the future (site date 2026-03-01)"),
        ("date_of_birth", "is after consent_date"),
        ("anchors", "unknown anchor transplant; the protocol defines infusion, consent"),
        ("infusion", "anchor infusion 2026-04-01 is in the future (site date 2026-03-01);"
                     " send it as planned (actual: false)"),
    ]


def test_the_consent_anchor_is_not_reported_again_beside_the_consent_date() -> None:
    late = date(2026, 3, 2)
    other = Enrolment("S-1", "YC3H", late, date(1980, 5, 1), {"consent": AnchorDate(TODAY)})
    assert check_enrolment(sle_plan(), other, today=TODAY) == [
        ("consent_date", "2026-03-02 is in the future (site date 2026-03-01)")]
    fine = Enrolment("S-1", "YC3H", date(2026, 1, 5), date(1980, 5, 1),
                     {"consent": AnchorDate(TODAY)})
    assert check_enrolment(sle_plan(), fine, today=TODAY) == [
        ("consent", "the consent anchor is the consent date, recorded as actual")]


def test_an_ineligible_age_is_a_problem_of_the_date_of_birth() -> None:
    young = row(date(2026, 1, 5), date(2008, 1, 6))
    assert check_enrolment(sle_plan(), young, today=TODAY) == [
        ("date_of_birth", "age 17 at consent is outside 18..75")]
