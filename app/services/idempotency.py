"""Idempotency keys: a retried write returns the first answer instead of running twice.

The key row is inserted in the same transaction as the work it guards, and the
response is written into it before that transaction commits. So there is never a
moment when the work is committed and its answer is not (or the reverse), and the
unique constraint on (token_name, key) makes concurrent duplicates wait for the first
one to commit, after which they read its stored answer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import Conflict, InvalidRequest
from app.models import IdempotencyKey
from app.services.audit import record_audit

# A key is honoured for at least this long, then may be purged or reused.
RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 200
KEY_PATTERN = r"^[\x20-\x7e]{1,200}$"
_KEY = re.compile(KEY_PATTERN)


class IdempotencyKeyReused(InvalidRequest):
    slug, title = "idempotency-key-reused", "Idempotency-Key reused with a different request"


class IdempotencyKeyInvalid(InvalidRequest):
    slug, title = "idempotency-key-invalid", "Invalid Idempotency-Key"


class RequestInProgress(Conflict):
    slug, title = "request-in-progress", "A request with this Idempotency-Key is in progress"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: str
    content_type: str | None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A key this transaction now holds: its response is stored with ``store_response``."""

    id: int


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise IdempotencyKeyInvalid(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters",
            field="Idempotency-Key",
        )
    return key


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        # Length-prefixed, so ("ab", "c") and ("a", "bc") never hash alike.
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _find(session: Session, token_name: str, key: str) -> IdempotencyKey | None:
    return session.scalars(
        select(IdempotencyKey)
        .where(IdempotencyKey.token_name == token_name, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    ).first()


def _answer(row: IdempotencyKey, fingerprint: str) -> StoredResponse:
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request (method, path"
            " or body); use a new key for a new request"
        )
    if row.status_code is None or row.response_body is None:
        raise RequestInProgress("the first request with this key has not finished; retry later")
    return StoredResponse(row.status_code, row.response_body, row.content_type, row.location)


def claim_key(
    session: Session,
    *,
    actor: Actor,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    wait_seconds: float = 10.0,
    now: datetime,
) -> Claim | StoredResponse:
    """Hold ``key`` for this transaction, or return the answer stored for it.

    Raises IdempotencyKeyReused when the key came with another request, and
    RequestInProgress when another transaction has held it for ``wait_seconds``.
    """
    check_key(key)
    existing = _find(session, actor.name, key)
    if existing is not None:
        if existing.created_at > now - RETENTION:
            return _answer(existing, fingerprint)
        # Past retention the key is free again. A Core DELETE: a concurrent request may
        # free the same row first, which is fine (the insert below then decides).
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == existing.id))
        session.expunge(existing)
    row = IdempotencyKey(
        token_name=actor.name, key=key, method=method.upper(), path=path[:500],
        request_hash=fingerprint, created_at=now,
    )
    postgres = session.get_bind().dialect.name == "postgresql"
    previous = None
    if postgres:
        # A duplicate waits on the unique index for the first transaction to end; bound
        # the wait so a stuck first request yields 409 instead of holding a connection.
        previous = session.execute(select(func.current_setting("lock_timeout"))).scalar_one()
        session.execute(
            select(func.set_config("lock_timeout", f"{int(wait_seconds * 1000)}ms", True))
        )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # Another transaction held the key and has committed: answer as it did.
        stored = _find(session, actor.name, key)
        if stored is None:  # it rolled back after all; a retry will claim the key
            raise RequestInProgress("a concurrent request with this key failed; retry") from None
        return _answer(stored, fingerprint)
    except DBAPIError as exc:
        if postgres and getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            raise RequestInProgress(
                "the first request with this key is still running; retry later"
            ) from None
        raise
    finally:
        if postgres:
            session.execute(select(func.set_config("lock_timeout", previous, True)))
    return Claim(id=row.id)


def store_response(
    session: Session,
    claim: Claim,
    *,
    status_code: int,
    body: bytes,
    content_type: str | None,
    location: str | None = None,
) -> None:
    row = session.get(IdempotencyKey, claim.id)
    if row is None:  # only possible if someone deleted it inside this transaction
        raise RuntimeError("idempotency key vanished before its response was stored")
    row.status_code = status_code
    row.response_body = body.decode()
    row.content_type = content_type[:100] if content_type else None
    row.location = location[:1000] if location else None
    session.flush()


def purge_keys(
    session: Session,
    *,
    actor: Actor,
    older_than: timedelta = RETENTION,
    now: datetime,
) -> int:
    """Delete keys older than ``older_than`` at ``now`` (never less than the retention)."""
    actor.require_admin()
    if older_than < RETENTION:
        raise InvalidRequest(f"keys are kept at least {RETENTION}; choose a longer age")
    cutoff = now - older_than
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        record_audit(session, actor=actor, action="idempotency.purged", entity="idempotency_key",
                     after={"deleted": count, "before": cutoff.isoformat()})
    return count
