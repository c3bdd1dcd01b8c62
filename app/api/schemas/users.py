"""Users (personal accounts), as the API shows them: never a password or its hash."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.access import Role
from app.api.schemas.common import Text
from app.passwords import USERNAME_PATTERN
from app.schedule.names import CODE_PATTERN

Code = Annotated[str, Field(pattern=CODE_PATTERN, max_length=40)]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN, max_length=60, examples=["li.wei"],
                          description="2-60 lowercase letters, digits, _ . -")
    display_name: Text = Field(min_length=1, max_length=200, examples=["Dr Li Wei"],
                               description="The printed name the audit trail shows.")
    email: Text | None = Field(default=None, max_length=254, examples=["li.wei@hospital.example"],
                               description="Optional; what single sign-on may match.")
    role: Role = Field(description="admin, coordinator or monitor (edc is for tokens)")
    sites: list[Code] = Field(default_factory=list, max_length=200, examples=[["YC3H"]],
                              description="Site codes (coordinator: required).")
    studies: list[Code] = Field(default_factory=list, max_length=200,
                                description="Study codes (monitor: required).")


class UserPatch(BaseModel):
    """The fields given replace the user's; those left out stay (except that a user made
    an admin loses the sites and studies not given: an admin reaches everything)."""

    model_config = ConfigDict(extra="forbid")

    display_name: Text | None = Field(default=None, min_length=1, max_length=200,
                                      examples=["Dr Li Wei"])
    role: Role | None = Field(default=None,
                              description="admin, coordinator or monitor (edc is for tokens)")
    sites: list[Code] | None = Field(default=None, max_length=200, examples=[["YC3H", "WTCH"]],
                                     description="Site codes; [] for none.")
    studies: list[Code] | None = Field(default=None, max_length=200,
                                       description="Study codes; [] for none.")
    email: Text | None = Field(
        default=None, max_length=254, examples=["li.wei@hospital.example"],
        description="The e-mail address single sign-on may match; null removes it.")


class UserOut(BaseModel):
    username: str
    display_name: str
    email: str | None
    role: str
    sites: list[str]
    studies: list[str]
    must_change_password: bool = Field(
        description="True until the one-time password is changed at sign-in.")
    created_at: datetime
    password_changed_at: datetime
    disabled_at: datetime | None


class NewPasswordOut(BaseModel):
    user: UserOut
    password: str = Field(
        description=("The one-time password. Shown only in this response; the user must "
                     "change it at the first sign-in."),
        examples=["Zk3...20 characters"],
    )
