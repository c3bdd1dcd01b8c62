"""Sessions kept on the server: signing out, revocation and the timeouts end them for every
copy of the cookie, and nothing stored in the database can be turned into a cookie."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import String, func, select, update
from sqlalchemy.orm import Session

from app.models import ApiToken, FeedToken, WebSessionRow
from app.settings import Settings
from app.web.session import COOKIE_NAME, SessionCodec, WebSession
from tests.helpers_access import text_of_every_row
from tests.helpers_subjects import NOW, bearer
from tests.helpers_web import OWN_SITE, Seeded, seed, stand_at
from tests.web.helpers import csrf_of, sign_in

ENDED = "/signin?ended=1"


@pytest.fixture
def seeded(session: Session) -> Seeded:
    return seed(session)


def with_cookie(client: TestClient, cookie: str) -> TestClient:
    """The browser now holds exactly ``cookie`` (a copy taken earlier, or a forged one)."""
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, cookie)
    return client


def worklist_location(client: TestClient) -> str | None:
    """Where /worklist sends the browser (None: the page itself was shown)."""
    response = client.get("/worklist", follow_redirects=False)
    if response.status_code == 200:
        return None
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def sessions_of(session: Session, token_name: str) -> list[WebSessionRow]:
    session.expire_all()
    return list(session.scalars(
        select(WebSessionRow).join(ApiToken, ApiToken.id == WebSessionRow.token_id)
        .where(ApiToken.name == token_name)
    ))


def test_a_cookie_copied_before_sign_out_is_refused_after_it(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    form_token = csrf_of(client.get("/feeds").text)
    copied = client.cookies[COOKIE_NAME]
    assert worklist_location(with_cookie(client, copied)) is None  # the copy works until then

    signed_out = client.post("/signout", data={"csrf_token": form_token}, follow_redirects=False)
    assert signed_out.headers["location"] == "/signin"
    [row] = sessions_of(session, "coord-yc3h")
    assert row.ended_at is not None

    # Reading: every page sends the copy to sign in, saying the session ended.
    assert worklist_location(with_cookie(client, copied)) == ENDED
    subject = with_cookie(client, copied).get(f"/studies/UCART-SLE/subjects/{seeded.own_subject}",
                                              follow_redirects=False)
    assert subject.status_code == 303 and subject.headers["location"] == ENDED
    # Writing: a form posted with the copy and the form token taken with it changes nothing.
    posted = with_cookie(client, copied).post(f"/feeds/{OWN_SITE}",
                                              data={"csrf_token": form_token},
                                              follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"] == ENDED
    assert session.scalar(select(func.count()).select_from(FeedToken)) == 0
    again = with_cookie(client, copied).post("/signout", data={"csrf_token": form_token})
    assert again.status_code == 403  # the form token belonged to the ended session


def test_signing_in_again_ends_the_session_before(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    before = client.cookies[COOKIE_NAME]
    sign_in(client, seeded.admin)
    after = client.cookies[COOKIE_NAME]
    assert "web-admin" in client.get("/worklist").text
    assert worklist_location(with_cookie(client, before)) == ENDED
    assert worklist_location(with_cookie(client, after)) is None


def test_revoking_the_token_ends_all_its_sessions(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    stand_at(client, NOW)
    copies = []
    for _ in range(2):  # two browsers signed in with the same token
        client.cookies.clear()
        sign_in(client, seeded.coordinator)
        copies.append(client.cookies[COOKIE_NAME])
    assert len(sessions_of(session, "coord-yc3h")) == 2

    revoked = client.delete("/api/v1/tokens/coord-yc3h", headers=bearer(seeded.admin))
    assert revoked.status_code == 200, revoked.text
    for copy in copies:
        assert worklist_location(with_cookie(client, copy)) == ENDED
    # The next sign-in (by anyone) deletes the sessions that no longer count.
    client.cookies.clear()
    sign_in(client, seeded.monitor)
    assert sessions_of(session, "coord-yc3h") == []


def test_a_token_expiring_ends_its_sessions(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    session.execute(update(ApiToken).where(ApiToken.name == "coord-yc3h")
                    .values(expires_at=NOW + timedelta(minutes=10)))
    session.commit()
    stand_at(client, NOW)
    sign_in(client, seeded.coordinator)
    stand_at(client, NOW + timedelta(minutes=9))
    assert worklist_location(client) is None
    stand_at(client, NOW + timedelta(minutes=10))
    assert worklist_location(client) == ENDED


def test_an_idle_session_ends(
    client: TestClient, session: Session, settings: Settings, seeded: Seeded
) -> None:
    idle = timedelta(minutes=settings.web_session_idle_minutes)
    assert idle == timedelta(minutes=30)
    stand_at(client, NOW)
    sign_in(client, seeded.coordinator)
    cookie = client.cookies[COOKIE_NAME]
    at = NOW
    for _ in range(3):  # each page keeps the session going for another idle period
        at += idle - timedelta(minutes=1)
        stand_at(client, at)
        assert worklist_location(client) is None
    stand_at(client, at + idle)
    assert worklist_location(client) == ENDED
    assert worklist_location(with_cookie(client, cookie)) == ENDED  # so is every copy


def test_a_session_ends_after_twelve_hours_however_busy(
    client: TestClient, session: Session, settings: Settings, seeded: Seeded
) -> None:
    limit = timedelta(hours=settings.web_session_max_hours)
    assert limit == timedelta(hours=12)
    stand_at(client, NOW)
    page = client.get("/signin")
    response = client.post("/signin", data={"csrf_token": csrf_of(page.text),
                                            "token": seeded.coordinator},
                           follow_redirects=False)
    assert f"Max-Age={int(limit.total_seconds())}" in response.headers["set-cookie"]
    at = NOW
    while at + timedelta(minutes=25) < NOW + limit:
        at += timedelta(minutes=25)
        stand_at(client, at)
        assert worklist_location(client) is None, at
    stand_at(client, NOW + limit)
    assert worklist_location(client) == ENDED


def test_a_page_records_the_use_at_most_once_a_minute(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    def last_seen() -> datetime:
        [row] = sessions_of(session, "coord-yc3h")
        return row.last_seen_at

    stand_at(client, NOW)
    sign_in(client, seeded.coordinator)
    assert last_seen() == NOW
    for seconds, expected in ((30, 0), (59, 0), (61, 61), (90, 61), (125, 125)):
        stand_at(client, NOW + timedelta(seconds=seconds))
        assert worklist_location(client) is None
        assert last_seen() == NOW + timedelta(seconds=expected), seconds


def test_no_stored_value_can_be_turned_into_a_cookie(
    client: TestClient, session: Session, settings: Settings, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    codec = SessionCodec(settings)
    cookie = codec.loads(client.cookies[COOKIE_NAME])
    assert cookie is not None and cookie.session_id is not None
    assert cookie.session_id not in text_of_every_row(session)

    # Someone who reads the tables and knows SECRET_KEY signs cookies from what is there:
    # the session's row, and every token's row (the old cookie held a token's hash).
    stored: set[str] = set()
    for table in (WebSessionRow, ApiToken):
        columns = [c for c in table.__table__.columns if isinstance(c.type, String)]
        for row in session.execute(select(*columns)):
            stored.update(str(value) for value in row if value)
    assert len(stored) > 10
    old_format = URLSafeTimedSerializer(settings.secret_key.get_secret_value(),
                                        salt="followup.web.session")
    for value in sorted(stored):
        forged = [codec.dumps(WebSession("seed", session_id=value)),
                  old_format.dumps(["seed", value, "web-admin"])]
        for made in forged:
            assert worklist_location(with_cookie(client, made)) in (ENDED, "/signin?next="
                                                                  "%2Fworklist"), value
