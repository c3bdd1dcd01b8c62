"""A small SLE study with subjects in known states, for the report tests.

Infusion 1 February 2026 (actual) unless said otherwise, so the windows are: D0 1 Feb
(exact), D14 13..17 Feb, D28 26 Feb..4 Mar, M3 24 Apr..8 May, M6 18 Jul..15 Aug, M9
18 Oct..15 Nov. DORIS@6 months: 18 Jul..15 Aug (any visit carrying DORIS: M3 and on).

YC3H  A  D14 15 Feb, D28 1 Mar, M3 1 May, M6 1 Aug: all in window
      B  D14 11 Feb (early), D28 10 Mar (late), nothing since
      C  D14 documented missed, D28 not done, M3 3 May, M6 20 Aug (late)
      G  no infusion date yet
WTCH  D  D14 not done, D28 27 Feb, M3 not done, M6 10 Jul (early)
      E  infusion planned for 20 Aug 2026, not confirmed
      F  died 20 Mar 2026
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from app.schedule.lifecycle import EventType
from app.services.subjects.events import record_event
from app.services.visits import complete_visit, mark_missed
from tests.helpers_subjects import EDC, SLE, enrol_sle, load_seed_studies

# Noon in Shanghai on 1 September 2026: the sites' date is 1 September.
REPORT_NOW = datetime(2026, 9, 1, 4, 0, tzinfo=UTC)


def seed_report_study(session: Session) -> None:
    load_seed_studies(session)

    def done(subject: str, code: str, day: date) -> None:
        complete_visit(session, study=SLE, subject_id=subject, code=code, actual_date=day,
                       actor=EDC, now=REPORT_NOW)

    for subject in ("A", "B", "C"):
        enrol_sle(session, subject, site="YC3H", now=REPORT_NOW)
    enrol_sle(session, "G", site="YC3H", infusion=None, now=REPORT_NOW)
    for subject in ("D", "F"):
        enrol_sle(session, subject, site="WTCH", now=REPORT_NOW)
    enrol_sle(session, "E", site="WTCH", infusion=date(2026, 8, 20), actual=False,
              now=REPORT_NOW)
    done("A", "D14", date(2026, 2, 15))
    done("A", "D28", date(2026, 3, 1))
    done("A", "M3", date(2026, 5, 1))
    done("A", "M6", date(2026, 8, 1))
    done("B", "D14", date(2026, 2, 11))
    done("B", "D28", date(2026, 3, 10))
    mark_missed(session, study=SLE, subject_id="C", code="D14", reason="patient travelling",
                actor=EDC, now=REPORT_NOW)
    done("C", "M3", date(2026, 5, 3))
    done("C", "M6", date(2026, 8, 20))
    done("D", "D28", date(2026, 2, 27))
    done("D", "M6", date(2026, 7, 10))
    record_event(session, study=SLE, subject_id="F", type=EventType.DEATH,
                 day=date(2026, 3, 20), actor=EDC, now=REPORT_NOW)
    session.flush()
