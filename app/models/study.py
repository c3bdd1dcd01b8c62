from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    registry_id: Mapped[str | None] = mapped_column(String(40))
    target_enrolment: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProtocolVersion(Base):
    """One loaded version of a protocol. New subjects are enrolled on the study's active
    version (one per study: the first loaded, until another is activated)."""

    __tablename__ = "protocol_versions"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="RESTRICT"))
    version: Mapped[str] = mapped_column(String(40))
    yaml_text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    source_name: Mapped[str] = mapped_column(String(300))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    loaded_by: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    # Local time at which the daily digest goes out, "HH:MM" in the site's zone.
    digest_time: Mapped[str] = mapped_column(String(5), default="07:00")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StudySite(Base):
    """Which sites take part in which study."""

    __tablename__ = "study_sites"
    __table_args__ = (UniqueConstraint("study_id", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
