"""The worklist's page query, built once per shape and bound per request, and its cursor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Select,
    bindparam,
    or_,
    select,
)
from sqlalchemy.sql.elements import BindParameter

from app.access import Actor
from app.errors import InvalidCursor
from app.models import Site, Study, Subject, Visit
from app.schedule.status import Status
from app.services.pagination import decode_cursor, encode_cursor
from app.services.scope import visible_rows
from app.services.status_sql import (
    STATES_OF,
    TODAY,
    Urgency,
    in_class,
    of_subjects,
    sort_key,
    status_expr,
)

CURSOR = "worklist"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: (urgency class, sort date, visit id), opaque to clients."""

    rank: Urgency
    key: date
    id: int

    def encode(self) -> str:
        return encode_cursor(CURSOR, int(self.rank), self.key.isoformat(), self.id)

    @classmethod
    def decode(cls, text: str) -> Cursor:
        rank, key, ident = decode_cursor(CURSOR, text, int, str, int)
        try:
            return cls(Urgency(rank), date.fromisoformat(key), ident)
        except ValueError as exc:
            raise InvalidCursor("cursor is not one this API returned", field="cursor") from exc


# The page query is built once per shape and kept (building a statement costs about
# half of running it); a request binds only values: its sites' date, the sites, the
# cursor, the studies, the target-date bounds and the row count.
SITES: BindParameter[int] = bindparam("sites", expanding=True)


STUDIES: BindParameter[int] = bindparam("studies", expanding=True)


AFTER_KEY = bindparam("after_key", type_=Date)


AFTER_ID = bindparam("after_id", type_=Integer)


DATE_FROM = bindparam("date_from", type_=Date)


DATE_TO = bindparam("date_to", type_=Date)


LIFECYCLES: BindParameter[str] = bindparam("lifecycles", expanding=True)


NEED = bindparam("need", type_=Integer)


@lru_cache(maxsize=128)
def page_query(
    rank: Urgency,
    others: tuple[Status, ...] | None,
    actor: Actor,
    *,
    after: bool,
    studies: bool,
    date_from: bool,
    date_to: bool,
    lifecycles: bool = False,
    leaving: bool = False,
) -> Select[*tuple[Any, ...]]:
    """Visits of one class at the SITES whose date is TODAY, most urgent first, the
    first NEED of them (after AFTER_KEY/AFTER_ID when ``after``). ``others`` keeps
    only those statuses of the OTHER class. Codes come from joins in the same query;
    only the columns shown, the visit id first. ``lifecycles`` keeps the visits of
    subjects in the LIFECYCLES (checked on the subject row each visit joins anyway), and
    with ``leaving`` the visits still to do that the subjects' leaving opened
    (:func:`app.services.status_sql.of_subjects`)."""
    status = status_expr(TODAY)
    key = sort_key(rank)
    where = [in_class(rank, SITES, TODAY), visible_rows(actor, study_code=Study.code.expression,
                                                       site_code=Site.code.expression)]
    if others is not None:
        states = sorted({state for status in others for state in STATES_OF[status]})
        where += [Visit.state.in_(states), status.in_(others)]
    if after:
        where += [key >= AFTER_KEY, or_(key > AFTER_KEY, Visit.id > AFTER_ID)]
    if studies:
        where.append(Visit.study_id.in_(STUDIES))
    if date_from:
        where.append(Visit.target_date >= DATE_FROM)
    if date_to:
        where.append(Visit.target_date <= DATE_TO)
    if lifecycles:
        where.append(of_subjects(Subject.lifecycle.in_(LIFECYCLES), leaving))
    return (
        select(
            Visit.id,
            Study.code.label("study"),
            Subject.subject_id,
            Site.code.label("site"),
            Visit.code,
            Visit.name,
            Visit.phase,
            Visit.kind,
            Visit.target_date,
            Visit.window_start,
            Visit.window_end,
            Visit.actual_date,
            status.label("status"),
            Visit.missed_from,
        )
        .select_from(Visit)
        .join(Subject, Subject.id == Visit.subject_pk)
        .join(Site, Site.id == Visit.site_id)
        .join(Study, Study.id == Visit.study_id)
        .where(*where)
        .order_by(key, Visit.id)
        .limit(NEED)
    )
