"""Routes: users, the people who sign in with a password (admin only).

A one-time password appears once, in the response that made it (create, reset).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from app.api.deps import ActorDep
from app.api.idempotency import no_replay
from app.api.schemas.common import BODY_PROBLEMS, problem_responses
from app.api.schemas.users import NewPasswordOut, UserIn, UserOut, UserPatch
from app.deps import NowDep, SessionDep
from app.passwords import USERNAME_PATTERN
from app.services.accounts import users as user_service
from app.services.accounts.users import NewPassword, UserView

router = APIRouter(tags=["users"])

UsernamePath = Annotated[str, Path(pattern=USERNAME_PATTERN, max_length=60)]


def user_out(view: UserView) -> UserOut:
    return UserOut(
        username=view.username, display_name=view.display_name, email=view.email,
        role=view.role,
        sites=list(view.sites), studies=list(view.studies),
        must_change_password=view.must_change_password, created_at=view.created_at,
        password_changed_at=view.password_changed_at, disabled_at=view.disabled_at,
    )


def new_password_out(made: NewPassword) -> NewPasswordOut:
    return NewPasswordOut(user=user_out(made.user), password=made.password)


@router.get("/users", response_model=list[UserOut], summary="List users (never a password)",
            responses=problem_responses("forbidden"))
def list_users(session: SessionDep, actor: ActorDep) -> list[UserOut]:
    return [user_out(v) for v in user_service.list_users(session, actor=actor)]


@router.post(
    "/users", response_model=NewPasswordOut, status_code=201,
    summary="Create a user; the response is the only place its one-time password appears",
    description=(
        "A coordinator needs at least one site, a monitor at least one study; `edc` is a "
        "machine's role and is refused. The user must change the one-time password at the "
        "first sign-in. This route refuses an `Idempotency-Key` (replaying would mean "
        "keeping a copy of the password): a second create of the same username answers 409."
    ),
    responses=problem_responses(*BODY_PROBLEMS, "forbidden", "already-exists",
                                "invalid-request"),
)
@no_replay
def create_user(body: UserIn, session: SessionDep, actor: ActorDep,
                now: NowDep) -> NewPasswordOut:
    return new_password_out(user_service.create_user(
        session, actor=actor, username=body.username, display_name=body.display_name,
        role=body.role, sites=body.sites, studies=body.studies, now=now, email=body.email,
    ))


@router.get("/users/{username}", response_model=UserOut, summary="One user",
            responses=problem_responses("forbidden", "not-found"))
def get_user(username: UsernamePath, session: SessionDep, actor: ActorDep) -> UserOut:
    return user_out(user_service.get_user(session, actor=actor, username=username))


@router.patch(
    "/users/{username}", response_model=UserOut,
    summary="Change a user's role, sites, studies, printed name or e-mail address",
    description=(
        "The fields given replace the user's, the others stay; a user made an admin loses "
        "the sites and studies not given. It counts from the user's next request (their "
        "sessions and personal tokens read it). The last enabled admin keeps the admin "
        "role (409). Audited as `user.updated` with the values before and after. "
        "`email` sets or changes the address (unique: 409 when another user has it) and "
        "`null` removes it, audited as `user.email_changed`, as `followup user set-email`."
    ),
    responses=problem_responses(*BODY_PROBLEMS, "forbidden", "not-found", "conflict",
                                "already-exists", "invalid-request"),
)
def update_user(username: UsernamePath, body: UserPatch, session: SessionDep,
                actor: ActorDep, now: NowDep) -> UserOut:
    view = user_service.update_user(
        session, actor=actor, username=username, role=body.role, sites=body.sites,
        studies=body.studies, display_name=body.display_name, now=now,
    )
    if "email" in body.model_fields_set:  # given, even as null: set, change or remove
        view = user_service.set_email(session, actor=actor, username=username,
                                      email=body.email, now=now)
    return user_out(view)


@router.post(
    "/users/{username}/disable", response_model=UserOut,
    summary="Disable a user: their sessions end and their personal tokens are revoked",
    responses=problem_responses("forbidden", "not-found"),
)
def disable_user(username: UsernamePath, session: SessionDep, actor: ActorDep,
                 now: NowDep) -> UserOut:
    return user_out(user_service.disable_user(session, actor=actor, username=username,
                                              now=now))


@router.post(
    "/users/{username}/enable", response_model=UserOut,
    summary="Let a disabled user sign in again (revoked tokens stay revoked)",
    responses=problem_responses("forbidden", "not-found"),
)
def enable_user(username: UsernamePath, session: SessionDep, actor: ActorDep,
                now: NowDep) -> UserOut:
    return user_out(user_service.enable_user(session, actor=actor, username=username, now=now))


@router.post(
    "/users/{username}/password-reset", response_model=NewPasswordOut,
    summary="A new one-time password, shown once; the user's sessions end",
    description="Refuses an `Idempotency-Key`, as creating a user does.",
    responses=problem_responses("forbidden", "not-found"),
)
@no_replay
def reset_password(username: UsernamePath, session: SessionDep, actor: ActorDep,
                   now: NowDep) -> NewPasswordOut:
    return new_password_out(user_service.reset_password(session, actor=actor,
                                                        username=username, now=now))
