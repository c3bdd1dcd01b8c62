"""Builders for access tests: tokens of every role and state, and secret scans."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import String, Text, select
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

from app.access import SYSTEM
from app.db import Base, utcnow
from app.models import ApiToken
from app.services.tokens import create_token

SLE, MM = "UCART-SLE", "CART-HSCT-MM"
SLE_SITE, OTHER_SLE_SITE, MM_SITE = "YC3H", "WTCH", "MM01"


def new_token(
    session: Session,
    role: str,
    *,
    sites: tuple[str, ...] = (),
    studies: tuple[str, ...] = (),
    name: str | None = None,
) -> str:
    """A token created through the service (audited); returns its secret."""
    created = create_token(session, actor=SYSTEM, role=role, sites=sites, studies=studies,
                           name=name, now=utcnow())
    session.flush()
    return created.secret


def expire(session: Session, name: str) -> None:
    token = session.scalars(select(ApiToken).where(ApiToken.name == name)).one()
    token.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()


def revoke(session: Session, name: str) -> None:
    token = session.scalars(select(ApiToken).where(ApiToken.name == name)).one()
    token.revoked_at = utcnow()
    session.flush()


def text_of_every_row(session: Session) -> str:
    """Every string and JSON value stored in every table, as one text to search."""
    session.flush()
    parts: list[str] = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
        if not columns:
            continue
        for row in session.execute(select(*columns)):
            parts.extend(str(value) for value in row if value is not None)
    return "\n".join(parts)
