"""The coordinators' worklist: visits across subjects, most urgent first, in SQL.

- :mod:`.selection`: the sites and studies a request reads, and each site's "today";
- :mod:`.query`: the page query (built once per shape) and its cursor;
- :mod:`.page`: one page of the worklist;
- :mod:`.counts`: overdue, due and upcoming visits per site and study.

Statuses come from :mod:`app.services.status_sql`, the SQL twin of the core's status
rules, which the digest shares. The rules of :mod:`app.services` hold.
"""
