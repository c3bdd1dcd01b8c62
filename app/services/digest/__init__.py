"""The daily email digest of each site: overdue, due and upcoming visits.

- :mod:`.content`: a site's digest as data, for its local date;
- :mod:`.mail`: the digest as email messages (text and HTML), one per study filter;
- :mod:`.timing`: when each site's digest is due (a pure planner and its loop);
- :mod:`.recipients`: who receives it;
- :mod:`.job`: sending it exactly once per site and local date.

The rules of :mod:`app.services` hold, except in :mod:`.job`: it takes a session
factory and opens its own short transactions, because SMTP must run outside them.
"""
