"""The pure rules of transfers, re-consent, lifecycle filters and completion by the
calendar."""

from __future__ import annotations

from datetime import date
from itertools import permutations

import pytest

from app.schedule.expand import AnchorDate, VisitRecord, expand
from app.schedule.lifecycle import (
    Event,
    EventType,
    Lifecycle,
    LifecycleFilter,
    consent_version,
    event_conflict,
    lifecycle_of,
    lifecycles_of,
    site_on,
    transfer_conflict,
)
from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from app.schedule.standing import schedule_done
from app.schedule.status import State
from tests.helpers_subjects import completing_sle_text, seed_text

TO_B = Event(EventType.TRANSFER, date(2026, 3, 1), "B")
TO_C = Event(EventType.TRANSFER, date(2026, 5, 1), "C")


def test_the_site_on_a_date_follows_the_transfers_in_any_order() -> None:
    for events in permutations([TO_C, Event(EventType.RESPONSE, date(2026, 4, 1), "CR"), TO_B]):
        assert site_on(date(2026, 2, 28), "A", events) == "A"
        assert site_on(date(2026, 3, 1), "A", events) == "B"  # the transfer's day is B's
        assert site_on(date(2026, 4, 30), "A", events) == "B"
        assert site_on(date(2026, 5, 1), "A", events) == "C"
        assert site_on(None, "A", events) == "C"
    assert site_on(None, "A", []) == "A"


def test_a_history_of_sites_must_be_unambiguous() -> None:
    assert transfer_conflict("A", [TO_C, TO_B]) is None
    same_day = Event(EventType.TRANSFER, TO_B.date, "C")
    assert "two transfers on 2026-03-01" in (transfer_conflict("A", [TO_B, same_day]) or "")
    to_a = Event(EventType.TRANSFER, date(2026, 3, 1), "A")
    assert transfer_conflict("A", [to_a]) == "the subject is already at site A on 2026-03-01"
    # Removing A -> B from A -> B -> A leaves a transfer to the site already in effect.
    back = Event(EventType.TRANSFER, date(2026, 4, 1), "A")
    assert transfer_conflict("A", [TO_B, back]) is None
    assert transfer_conflict("A", [back]) is not None


def test_a_transfer_after_the_end_of_follow_up_is_refused() -> None:
    withdrawn = Event(EventType.WITHDRAWAL, date(2026, 2, 1))
    conflict = event_conflict(TO_B, [withdrawn], [])
    assert conflict is not None and "after the withdrawal" in conflict.message


def test_the_latest_reconsent_gives_the_consent_version() -> None:
    assert consent_version([]) is None
    events = [Event(EventType.RECONSENT, date(2026, 6, 1), "3.0"),
              Event(EventType.RECONSENT, date(2026, 2, 1), "2.0"), TO_B]
    assert consent_version(events) == "3.0"


@pytest.mark.parametrize(("filters", "expected"), [
    ([LifecycleFilter.ACTIVE], {Lifecycle.ACTIVE}),
    ([LifecycleFilter.ENDED], set(Lifecycle) - {Lifecycle.ACTIVE}),
    ([LifecycleFilter.ALL], None),
    ([LifecycleFilter.ACTIVE, LifecycleFilter.ENDED], None),
    ([LifecycleFilter.DIED, LifecycleFilter.WITHDRAWN], {Lifecycle.DIED, Lifecycle.WITHDRAWN}),
])
def test_lifecycle_filters(filters: list[LifecycleFilter], expected: set[Lifecycle] | None) -> None:
    assert lifecycles_of(filters) == (None if expected is None else frozenset(expected))


def test_a_subject_completes_by_its_calendar_only_where_the_protocol_says_so() -> None:
    text, completing = seed_text("ucart-sle.yaml"), completing_sle_text()
    anchors = {"infusion": AnchorDate(date(2024, 1, 10)), "consent": AnchorDate(date(2024, 1, 2))}
    for source, completes in ((text, False), (completing, True)):
        plan = build_plan(parse_protocol(source, source="sle.yaml"))
        open_visits = [v.code for v in expand(plan, anchors).visits if not v.optional]
        everything = {code: VisitRecord(State.MISSED) for code in open_visits}
        all_but_one = dict(list(everything.items())[:-1])
        for records, done in ((all_but_one, False), (everything, completes)):
            expansion = expand(plan, anchors, (), records)
            assert schedule_done(plan, expansion) is done
            assert lifecycle_of((), schedule_done=done) is (
                Lifecycle.COMPLETED if done else Lifecycle.ACTIVE)
    # An ending event outranks a calendar all done.
    assert lifecycle_of([Event(EventType.WITHDRAWAL, date(2024, 5, 1))],
                        schedule_done=True) is Lifecycle.WITHDRAWN
