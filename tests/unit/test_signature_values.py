"""The pure part of electronic signatures: what a signature records in an audit record."""

from __future__ import annotations

from datetime import UTC, datetime

from app.signatures import AUDIT_KEY, Meaning, Signature, signed

SIGNED_AT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
SIGNATURE = Signature(meaning=Meaning.CORRECTED, printed_name="Dr Li Wei", user="li.wei",
                      signed_at=SIGNED_AT)


def test_the_meanings_read_as_the_audit_trail_prints_them() -> None:
    assert [m.value for m in Meaning] == ["recorded by", "corrected by", "approved by"]


def test_a_signature_records_meaning_printed_name_user_and_time() -> None:
    assert signed({"state": "completed"}, SIGNATURE) == {
        "state": "completed",
        AUDIT_KEY: {"meaning": "corrected by", "printed_name": "Dr Li Wei", "user": "li.wei",
                    "signed_at": "2026-03-01T04:00:00+00:00"},
    }


def test_no_signature_leaves_the_record_as_it_is() -> None:
    after = {"state": "missed"}
    assert signed(after, None) is after
    assert signed(None, None) is None
    assert signed(None, SIGNATURE) == {AUDIT_KEY: SIGNATURE.as_audit()}
