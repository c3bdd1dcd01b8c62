from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class DigestRecipient(Base):
    __tablename__ = "digest_recipients"
    __table_args__ = (UniqueConstraint("site_id", "email", "study_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    # Only this study's visits when set; all the site's studies otherwise.
    study_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DigestSend(Base):
    """The exactly-once record of one site's digest for one local date.

    A sender first claims the row (state "sending"); it becomes "sent" once the SMTP
    server accepted the message. A stale claim (a crashed sender) may be taken over.
    """

    __tablename__ = "digest_sends"
    __table_args__ = (UniqueConstraint("site_id", "local_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(10))  # sending, sent
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[str | None] = mapped_column(String(300))
    recipients: Mapped[int] = mapped_column(default=0)
