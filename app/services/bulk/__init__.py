"""Enrolling many subjects at once: the CSV import, the batch API and the demo data.

- :mod:`.rows`: what is read (one enrolment, its history) and what is reported
  (a problem per row and column, the result);
- :mod:`.checks`: the enrolment rules applied to a row, every problem at once;
- :mod:`.enroller`: checks chunks of rows and writes them in the caller's transaction;
- :mod:`.csv_import`: reads an enrolment CSV file chunk by chunk;
- :mod:`.jobs`: an import started on the pages, its progress and outcome;
- :mod:`.layout`: the tuple layout of the visit rows the bulk paths write;
- :mod:`.writer`: driver-level writes (executemany, COPY on PostgreSQL).

The rules of :mod:`app.services` hold: session first, keyword-only arguments, add and
flush (never commit), ``now`` passed in.
"""
