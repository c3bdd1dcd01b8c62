"""Electronic signatures' pure part: what a signature means, and what it records.

21 CFR Part 11 (11.50, 11.70) wants a signed record to show the signer's printed name,
the date and time of the signing, and the meaning of the signature (such as review,
approval, responsibility or authorship), linked to the record it signs. A
:class:`Signature` is that value; the service that checks the signer's password is
:mod:`app.services.accounts.signatures`, and the use cases write the value into the audit
record of the change they sign (under ``after["signature"]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

AUDIT_KEY = "signature"


class Meaning(StrEnum):
    """What the signer says by signing, as the audit record prints it."""

    RECORDED = "recorded by"  # authorship: a missed visit, a death, withdrawal, screen failure
    CORRECTED = "corrected by"  # a recorded visit's outcome changed
    APPROVED = "approved by"  # an amendment applied (a version's page)


@dataclass(frozen=True, slots=True)
class Signature:
    meaning: Meaning
    printed_name: str  # the signer's display name at the time of signing
    user: str  # the signer's username
    signed_at: datetime  # aware

    def as_audit(self) -> dict[str, str]:
        return {"meaning": self.meaning.value, "printed_name": self.printed_name,
                "user": self.user, "signed_at": self.signed_at.isoformat()}


def signed(after: dict[str, Any] | None,
           signature: Signature | None) -> dict[str, Any] | None:
    """An audit record's ``after`` with the signature that signs the change, if any."""
    if signature is None:
        return after
    return {**(after or {}), AUDIT_KEY: signature.as_audit()}
