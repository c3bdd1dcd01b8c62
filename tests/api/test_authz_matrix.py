"""Authorization matrix: every /api/v1 route x every kind of caller x own/other/missing.

Routes are discovered from the app's OpenAPI document, so a new route fails here until
it is classified below. For each route and caller the test sends the request for an
object the caller may reach ("own"), one it may not ("other": another study or site)
and one that does not exist ("missing"), and checks the status against the rules:

- no token, an expired token or a revoked one: 401, whatever the route;
- admin: everything;
- edc: read and write subjects of its studies, at all their sites;
- coordinator: read and write subjects of its sites;
- monitor: read only, its studies, and the audit trail;
- something the caller may not see answers exactly like something that does not exist
  (404, or the 403 a read-only role gets for any write), and no 2xx answer mentions a
  subject, study or site the caller may not see.

Every request runs in a transaction rolled back afterwards, so the writes of one cell
never change another; the database is built and seeded once per backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from app import migrate
from app.access import SYSTEM
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.deps import get_session
from app.main import create_app
from app.models import ApiToken
from app.schedule.lifecycle import EventType
from app.services.accounts.users import create_user
from app.services.digest.recipients import add_recipient
from app.services.feeds import create_feed_token
from app.services.subjects.events import record_event
from app.services.tokens import create_token, revoke_token
from app.settings import Settings
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_subjects import enrol_mm, enrol_sle, load_seed_studies, seed_text

SLE, MM = "UCART-SLE", "CART-HSCT-MM"
OK = frozenset({200, 201, 204})
SEED_TEXT = {SLE: seed_text("ucart-sle.yaml"), MM: seed_text("cart-allo-hsct-rrmm.yaml")}
ROLES = ("admin", "edc", "coordinator", "monitor", "none", "expired", "revoked")
UNAUTHENTICATED = ("none", "expired", "revoked")


# -- what each caller owns, may not see, and what does not exist ----------------------


@dataclass(frozen=True)
class Target:
    study: str  # a study (for study-level routes)
    site: str  # a site (for site-level routes)
    subject_study: str  # a subject (for subject routes): its study and id
    subject: str
    feed_site: str = ""  # the site whose feed token ``feed_id`` is

    @property
    def enrol_site(self) -> str:
        return {SLE: "YC3H", MM: "MM01"}.get(self.study, "YC3H")


OWN = Target(study=SLE, site="YC3H", subject_study=SLE, subject="S-OWN")
OTHER_FOR_STUDY_ROLES = Target(study=MM, site="MM01", subject_study=MM, subject="M-OWN")
OTHER = {
    "admin": OTHER_FOR_STUDY_ROLES,
    "edc": OTHER_FOR_STUDY_ROLES,
    "monitor": OTHER_FOR_STUDY_ROLES,
    # A coordinator of YC3H: MM does not run there; S-OTHER is an SLE subject at WTCH.
    "coordinator": Target(study=MM, site="WTCH", subject_study=SLE, subject="S-OTHER"),
}
MISSING = Target(study="NO-STUDY", site="NOSITE", subject_study=SLE, subject="S-NONE")
# What a 2xx answer to each caller must never mention.
UNSEEN = {
    "admin": (),
    "edc": ("M-OWN", MM, "MM01"),
    "monitor": ("M-OWN", MM, "MM01"),
    "coordinator": ("M-OWN", "S-OTHER", MM, "MM01"),
}
# Dates that suit each subject's calendar (infusion 2026-02-01 for SLE, 2025-02-03 for MM).
DATES = {
    "S-OWN": {"infusion": "2026-02-02", "d14": "2026-02-15", "event": "2026-03-01"},
    "S-OTHER": {"infusion": "2026-02-02", "d14": "2026-02-15", "event": "2026-03-01"},
    "M-OWN": {"infusion": "2025-02-04", "d14": "2025-02-17", "event": "2025-06-01"},
    "S-NONE": {"infusion": "2026-02-02", "d14": "2026-02-15", "event": "2026-03-01"},
}


def subject_url(t: Target, rest: str = "") -> str:
    return f"/api/v1/studies/{t.subject_study}/subjects/{t.subject}{rest}"


def enrolment(t: Target, subject_id: str = "NEW-1") -> dict[str, Any]:
    infusion = "2026-02-01" if t.study != MM else "2025-02-03"
    consent = "2026-01-05" if t.study != MM else "2025-01-06"
    return {"subject_id": subject_id, "site": t.enrol_site, "consent_date": consent,
            "date_of_birth": "1980-05-01",
            "anchors": [{"name": "infusion", "date": infusion, "actual": True}]}


# -- the classification of every route ------------------------------------------------

Build = Callable[[Target, "Seeded"], tuple[str, Any]]


@dataclass(frozen=True)
class Rule:
    kind: str  # read | write | enrol | admin | audit | list | feed-manage | feed-public
    build: Build
    # Admin-only routes without an object in their path have no other/missing target.
    targets: tuple[str, ...] = ("own", "other", "missing")


def _no_body(path: Callable[[Target, Seeded], str]) -> Build:
    return lambda t, s: (path(t, s), None)


def _user(target: Target) -> str:
    return "victim.user" if target is not MISSING else "nobody"


ROUTES: dict[tuple[str, str], Rule] = {
    # studies and sites
    ("GET", "/api/v1/studies"): Rule("list", _no_body(lambda t, s: "/api/v1/studies"), ("own",)),
    ("GET", "/api/v1/studies/{study}"): Rule("read", _no_body(
        lambda t, s: f"/api/v1/studies/{t.study}")),
    ("GET", "/api/v1/sites"): Rule("list", _no_body(lambda t, s: "/api/v1/sites"), ("own",)),
    ("GET", "/api/v1/sites/{site}"): Rule("read", _no_body(lambda t, s: f"/api/v1/sites/{t.site}")),
    ("POST", "/api/v1/sites"): Rule("admin", lambda t, s: (
        "/api/v1/sites", {"code": "NEWSITE", "name": "New site", "time_zone": "Asia/Shanghai"}),
        ("own",)),
    ("PATCH", "/api/v1/sites/{site}"): Rule("admin", lambda t, s: (
        f"/api/v1/sites/{t.site}", {"digest_time": "06:45"})),
    ("PUT", "/api/v1/studies/{study}/sites/{site}"): Rule("admin", lambda t, s: (
        f"/api/v1/studies/{t.study}/sites/{t.enrol_site if t is not MISSING else t.site}",
        None)),
    # protocol versions and amendments (both seeds are at version 1.1)
    ("POST", "/api/v1/studies/{study}/versions"): Rule("admin", lambda t, s: (
        f"/api/v1/studies/{t.study}/versions", {"text": SEED_TEXT[t.study]}), ("own",)),
    ("GET", "/api/v1/studies/{study}/versions/{version}/diff"): Rule("read", _no_body(
        lambda t, s: f"/api/v1/studies/{t.study}/versions/1.1/diff?from=1.1")),
    ("GET", "/api/v1/studies/{study}/subjects/{subject_id}/amendment-impact"): Rule(
        "read", _no_body(lambda t, s: subject_url(t, "/amendment-impact?to=1.1"))),
    ("POST", "/api/v1/studies/{study}/subjects/{subject_id}/protocol-version"): Rule(
        "admin", lambda t, s: (subject_url(t, "/protocol-version"),
                               {"version": "1.1", "reason": "matrix check"})),
    # subjects
    ("POST", "/api/v1/studies/{study}/subjects"): Rule("enrol", lambda t, s: (
        f"/api/v1/studies/{t.study}/subjects", enrolment(t))),
    ("POST", "/api/v1/studies/{study}/subjects:batch"): Rule("enrol", lambda t, s: (
        f"/api/v1/studies/{t.study}/subjects:batch", [enrolment(t, "NEW-1"),
                                                      enrolment(t, "NEW-2")])),
    ("GET", "/api/v1/studies/{study}/subjects"): Rule("read", _no_body(
        lambda t, s: f"/api/v1/studies/{t.study}/subjects")),
    ("GET", "/api/v1/studies/{study}/subjects/{subject_id}"): Rule("read", _no_body(
        lambda t, s: subject_url(t))),
    ("GET", "/api/v1/studies/{study}/exports/{format}"): Rule("read", _no_body(
        lambda t, s: f"/api/v1/studies/{t.study}/exports/odm")),
    ("PUT", "/api/v1/studies/{study}/subjects/{subject_id}/anchors/{anchor}"): Rule(
        "write", lambda t, s: (subject_url(t, "/anchors/infusion"), {
            "date": DATES[t.subject]["infusion"], "actual": True, "reason": "matrix check"})),
    ("POST", "/api/v1/studies/{study}/subjects/{subject_id}/events"): Rule(
        "write", lambda t, s: (subject_url(t, "/events"),
                               {"type": "progression", "date": DATES[t.subject]["event"]})),
    ("PATCH", "/api/v1/studies/{study}/subjects/{subject_id}/events/{event_id}"): Rule(
        "write", lambda t, s: (subject_url(t, f"/events/{s.event_ids.get(t.subject, 999999)}"),
                               {"note": "matrix check", "reason": "matrix check"})),
    ("DELETE", "/api/v1/studies/{study}/subjects/{subject_id}/events/{event_id}"): Rule(
        "write", _no_body(lambda t, s: subject_url(
            t, f"/events/{s.event_ids.get(t.subject, 999999)}?reason=matrix+check"))),
    ("POST", "/api/v1/studies/{study}/subjects/{subject_id}/visits/{visit_code}/completion"):
        Rule("write", lambda t, s: (subject_url(t, "/visits/D14/completion"),
                                    {"actual_date": DATES[t.subject]["d14"]})),
    ("POST", "/api/v1/studies/{study}/subjects/{subject_id}/visits/{visit_code}/missed"):
        Rule("write", lambda t, s: (subject_url(t, "/visits/M3/missed"),
                                    {"reason": "patient moved away"})),
    ("POST", "/api/v1/studies/{study}/subjects/{subject_id}/visits"): Rule(
        "write", lambda t, s: (subject_url(t, "/visits"), {"date": DATES[t.subject]["event"]})),
    ("GET", "/api/v1/studies/{study}/subjects/{subject_id}/history"): Rule("read", _no_body(
        lambda t, s: subject_url(t, "/history"))),
    ("GET", "/api/v1/studies/{study}/subjects/{subject_id}/calendar.ics"): Rule(
        "read", _no_body(lambda t, s: subject_url(t, "/calendar.ics"))),
    # worklist
    ("GET", "/api/v1/visits"): Rule("list", _no_body(lambda t, s: "/api/v1/visits"), ("own",)),
    ("GET", "/api/v1/visits/summary"): Rule("list", _no_body(
        lambda t, s: "/api/v1/visits/summary"), ("own",)),
    # reports
    ("GET", "/api/v1/studies/{study}/reports/compliance"): Rule("read", _no_body(
        lambda t, s: f"/api/v1/studies/{t.study}/reports/compliance")),
    ("GET", "/api/v1/studies/{study}/reports/endpoints"): Rule("read", _no_body(
        lambda t, s: f"/api/v1/studies/{t.study}/reports/endpoints")),
    # audit and tokens
    ("GET", "/api/v1/audit"): Rule("audit", _no_body(lambda t, s: "/api/v1/audit"), ("own",)),
    ("GET", "/api/v1/tokens"): Rule("admin", _no_body(lambda t, s: "/api/v1/tokens"), ("own",)),
    ("POST", "/api/v1/tokens"): Rule("admin", lambda t, s: (
        "/api/v1/tokens", {"role": "monitor", "studies": [SLE]}), ("own",)),
    ("GET", "/api/v1/tokens/{name}"): Rule("admin", _no_body(
        lambda t, s: f"/api/v1/tokens/{'victim' if t is not MISSING else 'nobody'}"),
        ("own", "missing")),
    ("DELETE", "/api/v1/tokens/{name}"): Rule("admin", _no_body(
        lambda t, s: f"/api/v1/tokens/{'victim' if t is not MISSING else 'nobody'}"),
        ("own", "missing")),
    # users
    ("GET", "/api/v1/users"): Rule("admin", _no_body(lambda t, s: "/api/v1/users"), ("own",)),
    ("POST", "/api/v1/users"): Rule("admin", lambda t, s: (
        "/api/v1/users", {"username": "new.person", "display_name": "New Person",
                          "role": "monitor", "studies": [SLE]}), ("own",)),
    ("GET", "/api/v1/users/{username}"): Rule("admin", _no_body(
        lambda t, s: f"/api/v1/users/{_user(t)}"),
        ("own", "missing")),
    ("PATCH", "/api/v1/users/{username}"): Rule("admin", lambda t, s: (
        f"/api/v1/users/{_user(t)}", {"display_name": "Victim Renamed"}),
        ("own", "missing")),
    ("POST", "/api/v1/users/{username}/disable"): Rule("admin", _no_body(
        lambda t, s: f"/api/v1/users/{_user(t)}/disable"),
        ("own", "missing")),
    ("POST", "/api/v1/users/{username}/enable"): Rule("admin", _no_body(
        lambda t, s: f"/api/v1/users/{_user(t)}/enable"),
        ("own", "missing")),
    ("POST", "/api/v1/users/{username}/password-reset"): Rule("admin", _no_body(
        lambda t, s: f"/api/v1/users/{_user(t)}/password-reset"),
        ("own", "missing")),
    # digest
    ("GET", "/api/v1/sites/{site}/digest"): Rule("read", _no_body(
        lambda t, s: f"/api/v1/sites/{t.site}/digest")),
    ("GET", "/api/v1/sites/{site}/recipients"): Rule("admin", _no_body(
        lambda t, s: f"/api/v1/sites/{t.site}/recipients")),
    ("POST", "/api/v1/sites/{site}/recipients"): Rule("admin", lambda t, s: (
        f"/api/v1/sites/{t.site}/recipients", {"email": "new.crc@hospital.example"})),
    ("DELETE", "/api/v1/sites/{site}/recipients/{email}"): Rule("admin", _no_body(
        lambda t, s: f"/api/v1/sites/{t.site}/recipients/crc@hospital.example")),
    # calendar feeds
    ("GET", "/api/v1/sites/{site}/calendar.ics"): Rule("feed-public", _no_body(
        lambda t, s: f"/api/v1/sites/{t.site}/calendar.ics?token=fd_not_a_real_feed_token_0000")),
    ("POST", "/api/v1/sites/{site}/feed-tokens"): Rule("feed-manage", _no_body(
        lambda t, s: f"/api/v1/sites/{t.site}/feed-tokens")),
    ("GET", "/api/v1/sites/{site}/feed-tokens"): Rule("feed-manage", _no_body(
        lambda t, s: f"/api/v1/sites/{t.site}/feed-tokens")),
    ("DELETE", "/api/v1/sites/{site}/feed-tokens/{token_id}"): Rule("feed-manage", _no_body(
        lambda t, s: f"/api/v1/sites/{t.site}/feed-tokens/{s.feed_ids.get(t.site, 999999)}")),
}


def expected(kind: str, role: str, target: str) -> frozenset[int]:
    """The statuses the rules allow for one cell."""
    if kind == "feed-public":
        # Calendar apps send no headers: the feed's own token opens it, a bearer never does.
        return frozenset({401, 404})
    if role in UNAUTHENTICATED:
        return frozenset({401})
    admin = role == "admin"
    if kind == "list":
        return OK
    if kind == "audit":
        return OK if role in ("admin", "monitor") else frozenset({403})
    if kind == "admin":
        if not admin:
            return frozenset({403})
        return frozenset({404}) if target == "missing" else OK
    if kind in ("write", "enrol") and role == "monitor":
        return frozenset({403})
    if kind == "feed-manage":
        if target == "missing" or (target == "other" and not admin):
            return frozenset({404})
        return OK if role in ("admin", "coordinator") else frozenset({403})
    # read, write, enrol
    if target == "missing":
        return frozenset({404})
    if target == "other" and not admin:
        return frozenset({404})
    return OK


# -- the database, seeded once per backend --------------------------------------------


@dataclass
class Seeded:
    engine: Engine
    secrets: dict[str, str]
    feed_ids: dict[str, int] = field(default_factory=dict)
    event_ids: dict[str, int] = field(default_factory=dict)  # a re-consent of each subject


def seed(engine: Engine) -> Seeded:
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        load_seed_studies(session)
        enrol_sle(session, "S-OWN", site="YC3H")
        enrol_sle(session, "S-OTHER", site="WTCH")
        enrol_mm(session, "M-OWN")
        event_ids = {
            subject: record_event(session, study=study, subject_id=subject,
                                  type=EventType.RECONSENT, day=day, value="2.0", actor=SYSTEM,
                                  now=utcnow())[1].id
            for study, subject, day in ((SLE, "S-OWN", date(2026, 2, 10)),
                                        (SLE, "S-OTHER", date(2026, 2, 10)),
                                        (MM, "M-OWN", date(2025, 3, 1)))
        }
        scopes: dict[str, dict[str, tuple[str, ...]]] = {
            "admin": {}, "edc": {"studies": (SLE,)}, "coordinator": {"sites": ("YC3H",)},
            "monitor": {"studies": (SLE,)}, "expired": {}, "revoked": {}, "victim": {},
        }
        secrets = {
            name: create_token(session, actor=SYSTEM, role="admin" if name in (
                "expired", "revoked", "victim") else name, name=f"matrix-{name}"
                if name != "victim" else "victim", now=utcnow(),
                **scope).secret  # type: ignore[arg-type]
            for name, scope in scopes.items()
        }
        revoke_token(session, actor=SYSTEM, name="matrix-revoked", now=utcnow())
        create_user(session, actor=SYSTEM, username="victim.user", display_name="Victim",
                    role="admin", now=utcnow())
        session.execute(update(ApiToken).where(ApiToken.name == "matrix-expired")
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
        feed_ids = {}
        for site in ("YC3H", "WTCH", "MM01"):
            add_recipient(session, site=site, email="crc@hospital.example", actor=SYSTEM)
            feed_ids[site] = create_feed_token(session, site=site, actor=SYSTEM, now=utcnow()).id
    secrets["none"] = ""
    return Seeded(engine=engine, secrets=secrets, feed_ids=feed_ids, event_ids=event_ids)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    url = fresh_database_url(request.param, tmp_path_factory.mktemp("matrix"))
    migrate.upgrade(url=url)
    engine = make_engine(url)
    yield seed(engine)
    engine.dispose()
    drop_database(url)


@dataclass
class Cell:
    session: Session | None = None


@pytest.fixture(scope="module")
def matrix(seeded: Seeded) -> Iterator[tuple[TestClient, Seeded, Cell]]:
    url = seeded.engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, base_url="http://testserver"))
    cell = Cell()

    def cell_session() -> Iterator[Session]:
        assert cell.session is not None
        yield cell.session

    app.dependency_overrides[get_session] = cell_session
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, seeded, cell
    app.state.engine.dispose()


def send(matrix: tuple[TestClient, Seeded, Cell], method: str, path: str, body: Any,
         role: str) -> Any:
    """One request in a transaction that is rolled back whatever happens."""
    client, seeded, cell = matrix
    headers = {"Authorization": f"Bearer {seeded.secrets[role]}"} if role != "none" else {}
    with seeded.engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint",
                     expire_on_commit=False) as session:
            cell.session = session
            try:
                response = client.request(method, path, json=body, headers=headers)
            finally:
                cell.session = None
        outer.rollback()
    return response


# -- the tests ------------------------------------------------------------------------


def discovered_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite://"))
    routes = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method in operations
    ]
    app.state.engine.dispose()
    return sorted(routes)


DISCOVERED = discovered_routes()


def test_every_route_is_classified() -> None:
    unclassified = sorted(set(DISCOVERED) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(DISCOVERED))
    assert not unclassified, f"add these routes to ROUTES in {Path(__file__).name}: {unclassified}"
    assert not stale, f"these routes no longer exist: {stale}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", DISCOVERED, ids=[f"{m} {p}" for m, p in DISCOVERED])
def test_route_answers_each_caller_as_the_rules_say(
    matrix: tuple[TestClient, Seeded, Cell], route: tuple[str, str], role: str
) -> None:
    rule = ROUTES.get(route)
    assert rule is not None, f"{route} is not classified"
    method, _ = route
    _, seeded, _ = matrix
    failures = []
    for target_name in rule.targets:
        if role in UNAUTHENTICATED and target_name != "own":
            continue
        target = {"own": OWN, "missing": MISSING}.get(target_name) or OTHER.get(role, OWN)
        path, body = rule.build(target, seeded)
        response = send(matrix, method, path, body, role)
        allowed = expected(rule.kind, role, target_name)
        if response.status_code not in allowed:
            failures.append(f"{target_name}: {method} {path} -> {response.status_code}"
                            f" (expected {sorted(allowed)}): {response.text[:300]}")
            continue
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", path
        elif role in UNSEEN:
            leaked = [word for word in UNSEEN[role] if word in response.text]
            if leaked:
                failures.append(f"{target_name}: {method} {path} mentions {leaked}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ["edc", "coordinator", "monitor"])
def test_another_sites_subject_is_indistinguishable_from_a_missing_one(
    matrix: tuple[TestClient, Seeded, Cell], role: str
) -> None:
    other, missing = OTHER[role], MISSING
    for suffix in ("", "/history", "/visits/D14/completion"):
        method = "POST" if suffix.endswith("completion") else "GET"
        body = {"actual_date": "2026-02-15"} if method == "POST" else None
        hidden = send(matrix, method, subject_url(other, suffix), body, role)
        absent = send(matrix, method, subject_url(missing, suffix), body, role)
        assert hidden.status_code == absent.status_code
        assert hidden.json()["type"] == absent.json()["type"]
        assert hidden.json()["title"] == absent.json()["title"]
