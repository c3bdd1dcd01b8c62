"""The lifecycle states a subject can be in.
"""

from __future__ import annotations

LIFECYCLES = ("active", "died", "withdrawn", "lost_to_follow_up")
