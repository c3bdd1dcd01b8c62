from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class User(Base):
    """A person who signs in with a password. Only an Argon2id hash of it is stored."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)  # lowercase
    display_name: Mapped[str] = mapped_column(String(200))  # the printed name
    # Lowercase; what single sign-on may match the provider's e-mail claim against.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # admin, coordinator, monitor
    sites: Mapped[list[str]] = mapped_column(JSON, default=list)  # site codes
    studies: Mapped[list[str]] = mapped_column(JSON, default=list)  # study codes
    password_hash: Mapped[str] = mapped_column(String(200))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SignInThrottle(Base):
    """Failed sign-ins counted under one key: an account (as typed) or a client address."""

    __tablename__ = "sign_in_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)  # "user:<name>", "address:<ip>"
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """A bearer token. Only the SHA-256 of the secret is stored. A personal token
    (``user_id`` set) acts as its user, with the user's role and scope."""

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
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )


class WebSessionRow(Base):
    """A signed-in browser session. The cookie carries a random id; only its SHA-256 is
    stored, so the table holds nothing a cookie can be made from. It signed in with an
    API token (``token_id``) or a user's password (``user_id``)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    csrf_seed: Mapped[str] = mapped_column(String(64))  # the forms' CSRF tokens sign it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())  # updated once a minute
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the absolute limit
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # signed out
    # Started by single sign-on: no password was used, so none is waiting to be changed.
    single_sign_on: Mapped[bool] = mapped_column(Boolean, default=False,
                                                 server_default=false())
    # The provider's ID token of a single sign-on, handed back when signing out there
    # (id_token_hint); cleared when the session ends.
    id_token: Mapped[str | None] = mapped_column(Text)


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
    """Who did what, when and why. Rows are only ever inserted.

    ``actor`` is the name the change came under: the token's, or the user's signed in
    with a password. ``user_name``/``user_display_name`` name the person (a user, or
    the user of a personal token) and ``token_name`` the token it came through; records
    written before accounts existed carry only ``actor``, the token's name.
    """

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
    user_name: Mapped[str | None] = mapped_column(String(60))
    user_display_name: Mapped[str | None] = mapped_column(String(200))
    token_name: Mapped[str | None] = mapped_column(String(100))


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
