"""Dependencies of the web pages: the unit of work, the signed-in actor, checked forms."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.datastructures import FormData

from app.access import Actor
from app.deps import NowDep, SessionDep, SettingsDep
from app.errors import InvalidRequest, NotAuthenticated
from app.schedule.names import CODE_PATTERN
from app.schedule.text import control_character_problem
from app.settings import Settings
from app.web.identity import resume
from app.web.rendering import CsrfRejected, PasswordChangeRequired, SignInRequired, codec
from app.web.session import COOKIE_NAME, CSRF_FIELD, WebSession, anonymous

# A study, subject, site or visit code in a page's address.
Code = Annotated[str, Path(pattern=CODE_PATTERN, max_length=40)]


# The request's unit of work, the API's own: committed when the page is answered, rolled
# back when the route raises (see app.web.rendering.PageFailed).
WebDb = SessionDep


def current_session(request: Request, db: WebDb, now: NowDep,
                    settings: SettingsDep) -> WebSession:
    """The session the cookie names, looked up on every request.

    A cookie whose server-side session no longer counts (signed out, timed out, its token
    revoked or expired) gets a new signed-out session, and pages that need a signed-in
    one say that the session ended.
    """
    cookie = codec(request).loads(request.cookies.get(COOKIE_NAME))
    session_id = cookie.session_id if cookie else None
    if cookie is not None and cookie.csrf_seed is not None:
        current = WebSession(cookie.csrf_seed)
    elif session_id is not None:
        try:
            live = resume(db, session_id, now=now, settings=settings)
        except NotAuthenticated:
            current = anonymous()
            request.state.web_session_dirty = True
            request.state.web_session_ended = True
        else:
            current = WebSession(live.csrf_seed, session_id, live.actor,
                                 live.must_change_password)
    else:
        current = anonymous()
        request.state.web_session_dirty = True
    request.state.web_session = current
    return current


WebSessionDep = Annotated[WebSession, Depends(current_session)]


def current_actor(request: Request, session: WebSessionDep) -> Actor:
    """The actor of the signed-in session (its token or user checked again on every
    request). A person who must change their password is sent to do that first."""
    if session.actor is None:
        if getattr(request.state, "web_session_ended", False):
            raise NotAuthenticated("the session ended")
        raise SignInRequired()
    if session.must_change_password:
        raise PasswordChangeRequired()
    request.state.actor = session.actor
    return session.actor


WebActor = Annotated[Actor, Depends(current_actor)]


async def checked_form(request: Request, session: WebSessionDep) -> FormData:
    """The posted form, once its CSRF token matches this session."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if not codec(request).csrf_valid(session, token if isinstance(token, str) else None):
        raise CsrfRejected()
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


# The forms' textareas: their text may hold line breaks and tabs.
MULTILINE_FIELDS = frozenset({"note", "reason", "subject_ids"})


def field(form: FormData, name: str, *, limit: int = 2000) -> str:
    """A text field, stripped and cut to ``limit`` characters (services check the rest).

    Control characters are refused here, as the API's schemas refuse them (a 422 page
    naming the field; nothing is stored).
    """
    value = form.get(name)
    text = value.strip()[:limit] if isinstance(value, str) else ""
    problem = control_character_problem(text, multiline=name in MULTILINE_FIELDS)
    if problem is not None:
        raise InvalidRequest(f"{name.replace('_', ' ')} {problem}", field=name)
    return text


__all__ = [
    "CheckedForm",
    "NowDep",
    "Settings",
    "SettingsDep",
    "WebActor",
    "WebDb",
    "WebSessionDep",
    "field",
]
