"""Subjects: from enrolment to the end of follow-up.

- :mod:`.loading`: one subject with its study, site and protocol version, as the actor
  may see it (the row lock every change takes);
- :mod:`.enrolment`: enrol a subject and build its calendar;
- :mod:`.anchors`: set, confirm or correct an anchor date (re-anchoring);
- :mod:`.events`: lifecycle events (response, progression, the ends of follow-up,
  transfer, re-consent), and their correction and removal;
- :mod:`.listing`: a study's subjects, page by page;
- :mod:`.visit_rows`: the stored visit rows, the subject's site and lifecycle, kept in
  step with the engine's calendar after every change, and the calendar read back from
  them.

The rules of :mod:`app.services` hold: session first, keyword-only arguments, add and
flush (never commit), ``now`` passed in.
"""
