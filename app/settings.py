"""Settings are data: built once by the edges (CLI, app factory) and passed in."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///followup.db"


class SmtpSettings(BaseSettings):
    """Outgoing mail, read from SMTP_* variables (SMTP_HOST, SMTP_PORT, ...)."""

    model_config = SettingsConfigDict(env_prefix="SMTP_", env_file=".env", extra="ignore")

    host: str = "localhost"
    port: int = 25
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(default="followup <followup@localhost>", description="From header")
    timeout_seconds: float = 30.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    db_pool_size: int = Field(default=5, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=500)
    secret_key: SecretStr = SecretStr("dev-only-change-me")
    base_url: str = "http://127.0.0.1:8000"
    cookie_secure: bool = False
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    log_level: str = "INFO"
    digest_skip_all_clear: bool = False
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
