"""What a visit's status and deviation numbers mean, said once for every output that
carries them (the subject calendar, the worklist): docs/status-rules.md in short."""

from __future__ import annotations

STATUS_DESCRIPTION = (
    "As of the site's date (as_of). A visit still to do is scheduled, upcoming, due (in its "
    "window), overdue (window closed) or missed_undocumented (derived, not entered: a later "
    "visit of its schedule was done, the protocol's missed_after grace period passed, or the "
    "subject left after its window closed; it may still be recorded late or documented as "
    "missed). A recorded visit is completed, completed_out_of_window, missed (documented with a "
    "reason); cancelled, not_applicable and pending come from events and anchors."
)
DAYS_EARLY = "Completed before its window: days from the actual date to the window's first day"
DAYS_LATE = "Completed after its window: days from the window's last day to the actual date"
DAYS_FROM_TARGET = (
    "Completed visits: the actual date minus the target date (negative when early), whether "
    "or not inside the window"
)
DAYS_OVERDUE = (
    "Overdue and missed_undocumented visits: today minus the window's last day"
)
MISSED_FROM = (
    "missed_undocumented visits only: the date the visit began to count as missed (derived)"
)
