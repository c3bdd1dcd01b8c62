"""Which version of the schedule language a file is written in.

A file may say so first thing, ``language: 1``; a file that does not is version 1,
the language as it was before files declared it (the seed schedules among them).

Policy: the version changes only when a file valid under the old version would be
refused or would mean something else under the new rules: a key renamed or removed,
a default changed, a rule made stricter. New optional keys and new values do not make a
new version, because no file written before them uses them: every version-1 file keeps
loading, with the same calendar. When a new version comes, the loader keeps reading
every older one by its own rules (the version a file declares decides which), so files
never have to be rewritten to keep loading.

A file declaring a version this service does not know yet is refused with that one
problem, not with the unknown keys the newer language may have.
"""

from __future__ import annotations

from app.schedule.check_context import Problem

LANGUAGE_VERSION = 1  # the newest version this service reads
LANGUAGE_KEY = "language"


def newer_language(data: object) -> Problem | None:
    """The problem of a file written in a newer language than this service reads.

    >>> newer_language({"language": 3}).message
    'this file uses language 3; this service reads up to 1'
    >>> newer_language({"language": 1}) is None, newer_language({}) is None
    (True, True)
    """
    if not isinstance(data, dict):
        return None
    version = data.get(LANGUAGE_KEY)
    if isinstance(version, bool) or not isinstance(version, int):
        return None  # missing: version 1; not a number: the model says so
    if version <= LANGUAGE_VERSION:
        return None
    return Problem((LANGUAGE_KEY,), f"this file uses language {version}; this service reads "
                                    f"up to {LANGUAGE_VERSION}")
