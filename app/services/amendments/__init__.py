"""Protocol amendments: moving enrolled subjects from one protocol version to another.

- :mod:`.preview`: the difference between two versions, and what moving each subject
  would do (a dry run: nothing is written);
- :mod:`.apply`: move one subject, in the caller's transaction, with one audit record;
- :mod:`.run`: move the subjects of a study (all, one site's or those listed) in the
  caller's transaction (the pages' signed "Apply this amendment").

The rules of :mod:`app.services` hold: session first, keyword-only arguments, add and
flush (never commit), ``now`` passed in. A batch over many subjects is one transaction
per subject, opened by the edge, so a failure leaves each subject wholly on one version.
"""
