"""ORM tables (the schema itself comes only from the Alembic migrations)."""

from app.models.access import (
    ApiToken,
    AuditRecord,
    FeedToken,
    IdempotencyKey,
    SignInThrottle,
    User,
    WebSessionRow,
)
from app.models.digest import DigestMessage, DigestRecipient, DigestSend
from app.models.imports import ImportJob
from app.models.study import ProtocolVersion, Site, Study, StudySite
from app.models.subject import AnchorDateRow, Subject, SubjectEvent, Visit

__all__ = [
    "AnchorDateRow",
    "ApiToken",
    "AuditRecord",
    "DigestMessage",
    "DigestRecipient",
    "DigestSend",
    "FeedToken",
    "IdempotencyKey",
    "ImportJob",
    "ProtocolVersion",
    "SignInThrottle",
    "Site",
    "Study",
    "StudySite",
    "Subject",
    "SubjectEvent",
    "User",
    "Visit",
    "WebSessionRow",
]
