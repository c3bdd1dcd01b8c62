"""Subjects: from enrolment to the end of follow-up.

- :mod:`.loading`: one subject with its study, site and protocol version, as the actor
  may see it (the row lock every change takes);
- :mod:`.enrolment`: enrol a subject and build its calendar;
- :mod:`.anchors`: set, confirm or correct an anchor date (re-anchoring);
- :mod:`.events`: lifecycle events (response, progression, the ends of follow-up,
  transfer, re-consent), and their correction and removal;
- :mod:`.preview`: what an event would do (the visits it would cancel), before it is saved;
- :mod:`.outcomes`: the rows around a visit's outcome (the visit locked, its anchor, the
  checks of its date), shared by completion and missed visits;
- :mod:`.listing`: a study's subjects, page by page;
- :mod:`.resync`: every subject's stored rows brought back in step with the engine (after
  a release changes a rule);
- :mod:`.visit_rows`: the stored visit rows, the subject's site and lifecycle, kept in
  step with the engine's calendar after every change, and the calendar read back from
  them.

The rules of :mod:`app.services` hold: session first, keyword-only arguments, add and
flush (never commit), ``now`` passed in.
"""
