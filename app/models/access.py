from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class ApiToken(Base):
    """A bearer token. Only the SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # admin, edc, coordinator, monitor
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sites: Mapped[list[str]] = mapped_column(JSON, default=list)  # site codes
    studies: Mapped[list[str]] = mapped_column(JSON, default=list)  # study codes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSessionRow(Base):
    """A signed-in browser session. The cookie carries a random id; only its SHA-256 is
    stored, so the table holds nothing a cookie can be made from."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    csrf_seed: Mapped[str] = mapped_column(String(64))  # the forms' CSRF tokens sign it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())  # updated once a minute
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the absolute limit
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # signed out


class FeedToken(Base):
    """A private calendar-feed token: calendar apps cannot send headers."""

    __tablename__ = "feed_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditRecord(Base):
    """Who did what, when and why. Rows are only ever inserted."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_study_subject", "study_code", "subject_id"),
        Index("ix_audit_records_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))  # e.g. visit.completed
    entity: Mapped[str] = mapped_column(String(40))  # subject, visit, anchor, token, ...
    study_code: Mapped[str | None] = mapped_column(String(40))
    site_code: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(40))
    key: Mapped[str | None] = mapped_column(String(100))  # visit code, anchor name, token name
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(String(1000))


class IdempotencyKey(Base):
    """The stored response of a POST sent with an Idempotency-Key header."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("token_name", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_name: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(1000))  # the Location header
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
