"""Who receives a site's daily digest: addresses, each with an optional study filter."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import AlreadyExists, InvalidRequest, NotFound
from app.models import DigestRecipient, Site, Study, StudySite
from app.services.audit import record_audit
from app.services.sites import find_site


@dataclass(frozen=True, slots=True)
class Recipient:
    site: str
    email: str
    study: str | None  # None: every study of the site


def normalize_email(raw: str) -> str:
    """A syntactically valid address, with its domain lower-cased (no DNS lookup).

    The local part is kept as written (RFC 5321 lets servers treat it as case-sensitive),
    so "Ana@Site.CN" and "Ana@site.cn" are one recipient but "ana@site.cn" is another.

    >>> normalize_email(" Ana@Site.CN ")
    'Ana@site.cn'
    """
    try:
        # Deliverability needs DNS: a hospital network may have none, and it would make
        # adding a recipient depend on the network. The SMTP server is the judge.
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidRequest(f"invalid email address {raw!r}: {exc}") from None
    return result.normalized


def _check_study(session: Session, site: Site, study_code: str) -> None:
    study = session.scalars(select(Study).where(Study.code == study_code)).first()
    if study is None:
        raise NotFound(f"study {study_code} not found")
    linked = session.scalars(
        select(StudySite.id).where(StudySite.study_id == study.id, StudySite.site_id == site.id)
    ).first()
    if linked is None:
        raise InvalidRequest(f"study {study_code} does not run at site {site.code}")


def _find(session: Session, site: Site, email: str, study: str | None) -> DigestRecipient | None:
    # NULL never equals NULL in SQL (nor in the unique constraint): "all studies" is
    # matched with IS NULL, and duplicates of it are refused here rather than by the DB.
    condition = (
        DigestRecipient.study_code.is_(None)
        if study is None
        else DigestRecipient.study_code == study
    )
    return session.scalars(
        select(DigestRecipient).where(
            DigestRecipient.site_id == site.id, DigestRecipient.email == email, condition
        )
    ).first()


def add_recipient(
    session: Session, *, site: str, email: str, study: str | None = None, actor: Actor
) -> Recipient:
    """Add an address to a site's digest, for all its studies or only ``study``."""
    actor.require_admin()
    row_site = find_site(session, code=site, actor=actor)
    address = normalize_email(email)
    if study is not None:
        _check_study(session, row_site, study)
    if _find(session, row_site, address, study) is not None:
        scope = f"study {study}" if study else "all studies"
        raise AlreadyExists(f"{address} already receives the {site} digest ({scope})")
    session.add(DigestRecipient(site_id=row_site.id, email=address, study_code=study))
    session.flush()
    record_audit(
        session, actor=actor, action="digest.recipient_added", entity="digest_recipient",
        site=site, study=study, key=address, after={"email": address, "study": study},
    )
    return Recipient(site=site, email=address, study=study)


def remove_recipient(
    session: Session, *, site: str, email: str, study: str | None = None, actor: Actor
) -> None:
    """Remove one (address, study filter) entry; NotFound when there is none."""
    actor.require_admin()
    row_site = find_site(session, code=site, actor=actor)
    address = normalize_email(email)
    row = _find(session, row_site, address, study)
    if row is None:
        scope = f"study {study}" if study else "all studies"
        raise NotFound(f"{address} does not receive the {site} digest ({scope})")
    session.delete(row)
    session.flush()
    record_audit(
        session, actor=actor, action="digest.recipient_removed", entity="digest_recipient",
        site=site, study=study, key=address, before={"email": address, "study": study},
    )


def list_recipients(
    session: Session, *, site: str | None = None, actor: Actor
) -> list[Recipient]:
    """Every recipient, or those of one site, ordered by site, address and filter."""
    actor.require_admin()
    statement = select(Site.code, DigestRecipient.email, DigestRecipient.study_code).join(
        Site, Site.id == DigestRecipient.site_id
    )
    if site is not None:
        row_site = find_site(session, code=site, actor=actor)
        statement = statement.where(DigestRecipient.site_id == row_site.id)
    rows = session.execute(
        statement.order_by(Site.code, DigestRecipient.email, DigestRecipient.study_code)
    ).all()
    return [Recipient(site=code, email=email, study=study) for code, email, study in rows]


def recipients_of_site(session: Session, site_id: int) -> list[Recipient]:
    """A site's recipients for sending (no actor: the digest runs as the system)."""
    rows = session.execute(
        select(Site.code, DigestRecipient.email, DigestRecipient.study_code)
        .join(Site, Site.id == DigestRecipient.site_id)
        .where(DigestRecipient.site_id == site_id)
        .order_by(DigestRecipient.email, DigestRecipient.study_code)
    ).all()
    return [Recipient(site=code, email=email, study=study) for code, email, study in rows]
