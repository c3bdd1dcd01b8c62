"""What an actor may see, as SQL conditions: the one place every list query starts from.

An admin sees everything; a token limited to studies sees those studies at all their
sites; a token limited to sites sees those sites and the studies run there. A row the
actor may not see is reported like one that does not exist.
"""

from __future__ import annotations

from sqlalchemy import exists, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from app.access import Actor
from app.models import AuditRecord, Site, Study, StudySite


def visible_rows(
    actor: Actor,
    *,
    site_code: ColumnElement[str],
    study_code: ColumnElement[str] | None = None,
) -> ColumnElement[bool]:
    """Rows whose site (and study, when the query has one) the actor may see.

    Leave ``study_code`` out only where the study was already checked
    (:func:`app.services.studies.get_study`).
    """
    condition: ColumnElement[bool] = true()
    if actor.studies is not None and study_code is not None:
        condition = condition & study_code.in_(sorted(actor.studies))
    if actor.sites is not None:
        condition = condition & site_code.in_(sorted(actor.sites))
    return condition


def visible_study(actor: Actor) -> ColumnElement[bool]:
    """The actor may see this study.

    A token limited to studies sees those; a token limited to sites sees the studies
    run at one of its sites (a coordinator has no business with the others).
    """
    condition: ColumnElement[bool] = true()
    if actor.studies is not None:
        condition = condition & Study.code.in_(sorted(actor.studies))
    if actor.sites is not None:
        condition = condition & exists(
            select(StudySite.id)
            .join(Site, Site.id == StudySite.site_id)
            .where(StudySite.study_id == Study.id, Site.code.in_(sorted(actor.sites)))
        )
    return condition


def visible_site(actor: Actor) -> ColumnElement[bool]:
    """The actor may see this site (its own sites, or its studies' sites)."""
    condition: ColumnElement[bool] = true()
    if actor.sites is not None:
        condition = condition & Site.code.in_(sorted(actor.sites))
    if actor.studies is not None:
        condition = condition & exists(
            select(StudySite.id)
            .join(Study, Study.id == StudySite.study_id)
            .where(StudySite.site_id == Site.id, Study.code.in_(sorted(actor.studies)))
        )
    return condition


def visible_audit(actor: Actor) -> ColumnElement[bool]:
    """The audit records the actor may read.

    A monitor reads its studies' records; records with no study (tokens, sites) are
    administration and stay with admins. A monitor limited to sites also sees the
    study-wide records of its studies (a protocol loaded), which name no patient.
    """
    condition: ColumnElement[bool] = true()
    if actor.studies is not None:
        condition = condition & AuditRecord.study_code.in_(sorted(actor.studies))
    if actor.sites is not None:
        condition = condition & or_(
            AuditRecord.site_code.in_(sorted(actor.sites)), AuditRecord.site_code.is_(None)
        )
    return condition
