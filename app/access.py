"""Who is acting and what they may do: roles and the Actor every service takes.

Plain values, no database: the SQL form of "what may this actor see" is
:mod:`app.services.scope`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.errors import Forbidden


class Role(StrEnum):
    ADMIN = "admin"
    EDC = "edc"
    COORDINATOR = "coordinator"
    MONITOR = "monitor"


@dataclass(frozen=True, slots=True)
class Actor:
    """The token behind a request or command.

    ``sites``/``studies`` are the codes the token is limited to; ``None`` means all.
    An admin sees everything; an EDC token its studies at all their sites; a
    coordinator its sites; a monitor its studies, read only.
    """

    name: str
    role: Role
    sites: frozenset[str] | None = None
    studies: frozenset[str] | None = None

    @property
    def can_write(self) -> bool:
        return self.role is not Role.MONITOR

    def require_write(self) -> None:
        if not self.can_write:
            raise Forbidden(f"role {self.role.value} is read-only")

    def require_admin(self) -> None:
        if self.role is not Role.ADMIN:
            raise Forbidden("only an admin token may do this")

    def sees(self, *, study: str, site: str) -> bool:
        return (self.studies is None or study in self.studies) and (
            self.sites is None or site in self.sites
        )


SYSTEM = Actor(name="system", role=Role.ADMIN)
