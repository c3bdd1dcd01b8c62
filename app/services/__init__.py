"""Use cases over a database session: what the API, the pages and the CLI all call.

Every function here follows the same rules:

- the session comes first and every other argument is keyword-only;
- it adds and flushes, and never commits: the edge owns the one transaction of a
  request or command, so a failure leaves nothing half-written;
- ``now`` (an aware instant) is a required argument; "today" is a site's local date
  at that instant, never the server's;
- every change writes its audit record (:mod:`.audit`) in the same transaction;
- the ``actor`` decides what is visible (:mod:`.scope`); what it may not see is
  reported as not found.

The one exception is :mod:`.digest.job`, which opens its own short transactions
because sending mail cannot be rolled back.

The map, each line importing only from the lines below it (``make lint`` checks it):

==========================================  ===========================================
``demo``                                    demo data through the bulk path
``bulk/`` ``digest/`` ``worklist/``         CSV and batch enrolment; the daily email;
``feeds`` ``trail`` ``exports/``            the worklist; calendar feeds; audit reading;
``reports/``                                CSV and CDISC ODM exports of a study;
                                            compliance and endpoint reports
``visits`` ``amendments/``                  a visit completed, missed or unscheduled;
                                            subjects moved to another protocol version
``subjects/``                               enrolment, anchors, events, listing, rows
``web_sessions``                            browser sessions: sign-in, sign-out, timeouts
``accounts/``                               users, passwords, throttling, signatures
``sites`` ``tokens`` ``idempotency``        sites, API tokens, retried writes
``studies``                                 protocols and their versions
``audit`` ``status_sql``                    the audit writer; statuses in SQL
``scope`` ``pagination``                    what an actor sees; cursors and limits
==========================================  ===========================================
"""
