"""Who is acting and what they may do: roles and the Actor every service takes.

Plain values, no database: the SQL form of "what may this actor see" is
:mod:`app.services.scope`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from app.errors import Forbidden


class Role(StrEnum):
    ADMIN = "admin"
    EDC = "edc"
    COORDINATOR = "coordinator"
    MONITOR = "monitor"


PERSON_ROLES = (Role.ADMIN, Role.COORDINATOR, Role.MONITOR)  # edc is a machine's


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is behind a request or command: a token, a person, or a person's token.

    ``name`` is what the change comes under: the token's name, or the username of a
    person signed in with a password. ``user`` and ``display_name`` name the person (a
    user signed in, or the user of a personal token), ``token`` the API token the
    request came through; the audit trail records all three.

    ``sites``/``studies`` are the codes it is limited to; ``None`` means all.
    An admin sees everything; an EDC token its studies at all their sites; a
    coordinator its sites; a monitor its studies, read only.
    """

    name: str
    role: Role
    sites: frozenset[str] | None = None
    studies: frozenset[str] | None = None
    user: str | None = None
    display_name: str | None = None
    token: str | None = None

    @property
    def can_write(self) -> bool:
        return self.role is not Role.MONITOR

    def require_write(self) -> None:
        if not self.can_write:
            raise Forbidden(f"role {self.role.value} is read-only")

    def require_admin(self) -> None:
        if self.role is not Role.ADMIN:
            raise Forbidden("only an admin may do this")

    def sees(self, *, study: str, site: str) -> bool:
        return (self.studies is None or study in self.studies) and (
            self.sites is None or site in self.sites
        )


def scoped_actor(
    name: str, role: Role, sites: Iterable[str] | None, studies: Iterable[str] | None, *,
    user: str | None = None, display_name: str | None = None, token: str | None = None,
) -> Actor:
    """The actor of a stored grant (a token's or a user's role and codes).

    Fails closed: a coordinator without sites (or an EDC/monitor without studies) sees
    nothing rather than everything, whatever the row says.
    """
    site_set, study_set = frozenset(sites or ()), frozenset(studies or ())
    limits: tuple[frozenset[str] | None, frozenset[str] | None]
    if role is Role.ADMIN:
        limits = (None, None)
    elif role is Role.EDC:
        limits = (None, study_set)
    elif role is Role.COORDINATOR:
        limits = (site_set, study_set or None)
    else:
        limits = (site_set or None, study_set)
    return Actor(name=name, role=role, sites=limits[0], studies=limits[1], user=user,
                 display_name=display_name, token=token)


SYSTEM = Actor(name="system", role=Role.ADMIN)
