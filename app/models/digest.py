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
    server accepted every message of the digest, and "partial" when the server accepted
    some of them before sending failed (the next run sends the rest). A stale claim (a
    crashed sender) may be taken over.
    """

    __tablename__ = "digest_sends"
    __table_args__ = (UniqueConstraint("site_id", "local_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(10))  # sending, partial, sent
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[str | None] = mapped_column(String(300))
    recipients: Mapped[int] = mapped_column(default=0)


class DigestMessage(Base):
    """One message of a digest that the SMTP server accepted (its DATA answered 250).

    Recorded as soon as the server accepts it, so that no later run sends it again: a
    retry sends only the audiences (study filters) of the digest without a row here.
    A forced resend starts the list afresh.
    """

    __tablename__ = "digest_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    send_id: Mapped[int] = mapped_column(
        ForeignKey("digest_sends.id", ondelete="CASCADE"), index=True
    )
    # The audience's study filter; None for the recipients of all the site's studies.
    study_code: Mapped[str | None] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(300))
    recipients: Mapped[int] = mapped_column()  # addresses the server accepted
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
