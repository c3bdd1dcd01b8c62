"""Settings are data: built once by the edges (CLI, app factory) and passed in."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///followup.db"
MIN_SECRET_KEY_LENGTH = 32
METRICS_TOKEN_MIN_LENGTH = 16


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


class OidcMatch(StrEnum):
    """Which claim of the provider's ID token names the local account."""

    USERNAME = "preferred_username"  # matched against users' usernames
    EMAIL = "email"  # matched against users' e-mail addresses


class OidcSettings(BaseSettings):
    """Single sign-on with an OpenID Connect provider, read from OIDC_* variables.

    Off unless the issuer, the client id and the client secret are all set
    (:attr:`configured`); see docs/accounts.md#single-sign-on.
    """

    model_config = SettingsConfigDict(env_prefix="OIDC_", env_file=".env", extra="ignore")

    issuer: str | None = None  # e.g. https://login.hospital.example/realms/staff
    client_id: str | None = None
    client_secret: SecretStr | None = None
    # Where the provider sends the browser back: <this>/signin/sso/callback. BASE_URL
    # when not set.
    redirect_base_url: str | None = None
    match: OidcMatch = OidcMatch.USERNAME
    provider_name: str = Field(default="single sign-on", min_length=1, max_length=60)
    # Each call to the provider (discovery, keys, token) gives up after this long.
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @property
    def configured(self) -> bool:
        secret = self.client_secret.get_secret_value() if self.client_secret else ""
        return bool(self.issuer and self.client_id and secret)

    @model_validator(mode="after")
    def _all_or_nothing(self) -> OidcSettings:
        given = [bool(self.issuer), bool(self.client_id), self.client_secret is not None]
        if any(given) and not all(given):
            raise ValueError("set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET together"
                             " (or none of them: single sign-on is then off)")
        for url in (self.issuer, self.redirect_base_url):
            if url and not url.startswith(("https://", "http://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    db_pool_size: int = Field(default=5, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=500)
    # How long a request waits for another writer's lock (SQLite: an import's long
    # transaction) before it is answered 503 "database busy". Commands wait longer
    # (see app/cli/context.py).
    db_lock_timeout_seconds: float = Field(default=5.0, gt=0, le=600)
    # How long connecting to PostgreSQL may take before the request (503) or command
    # fails; whole seconds, as libpq counts them, and at least its minimum of 2.
    db_connect_timeout_seconds: int = Field(default=5, ge=2, le=600)
    # Requests one server process works on at once (the rest queue, see
    # app/api/limits.py); each holds at most one pooled connection.
    max_concurrent_requests: int = Field(default=4, ge=1, le=500)
    secret_key: SecretStr = SecretStr("dev-only-change-me")
    base_url: str = "http://127.0.0.1:8000"
    cookie_secure: bool = False
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    log_level: str = "INFO"
    digest_skip_all_clear: bool = False
    # Prometheus metrics at GET /metrics, for a scraper sending METRICS_TOKEN as a bearer
    # token (see app/metrics.py and docs/deployment.md#metrics).
    metrics_enabled: bool = False
    metrics_token: SecretStr | None = None
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    # Outside development a real SECRET_KEY is required (see _secret_key_is_set).
    environment: Literal["development", "production"] = "development"
    # A browser session ends after this long without a request, and at the latest this
    # long after signing in (see app/services/web_sessions.py).
    web_session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    web_session_max_hours: int = Field(default=12, ge=1, le=7 * 24)

    @model_validator(mode="after")
    def _pool_holds_every_request(self) -> Settings:
        if self.db_pool_size + self.db_max_overflow < self.max_concurrent_requests:
            raise ValueError(
                "DB_POOL_SIZE + DB_MAX_OVERFLOW must be at least MAX_CONCURRENT_REQUESTS:"
                " each request in progress holds one database connection"
            )
        return self

    @model_validator(mode="after")
    def _secret_key_is_set(self) -> Settings:
        if self.environment == "development":
            return self
        secret = self.secret_key.get_secret_value()
        default = type(self).model_fields["secret_key"].get_default()
        if secret == default.get_secret_value() or len(secret) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"SECRET_KEY: set a random value of at least {MIN_SECRET_KEY_LENGTH}"
                f" characters when ENVIRONMENT={self.environment} (the development default"
                " is refused), e.g. the output of python3 -c 'import secrets;"
                " print(secrets.token_urlsafe(48))'"
            )
        return self

    @model_validator(mode="after")
    def _metrics_need_a_token(self) -> Settings:
        token = self.metrics_token.get_secret_value().strip() if self.metrics_token else ""
        if self.metrics_enabled and len(token) < METRICS_TOKEN_MIN_LENGTH:
            raise ValueError(
                f"METRICS_ENABLED needs METRICS_TOKEN, at least {METRICS_TOKEN_MIN_LENGTH}"
                " characters: the bearer token a scraper must send to GET /metrics"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def settings_problems(exc: ValidationError) -> str:
    """A settings error on one line, naming the environment variables at fault."""
    # SmtpSettings and OidcSettings are built on their own (SMTP_*, OIDC_* variables);
    # their errors name fields only.
    nested = {model.__name__: model for model in (SmtpSettings, OidcSettings)}
    prefix = nested[exc.title].model_config.get("env_prefix", "") if exc.title in nested else ""
    parts = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper()
        name = f"{prefix}{name}" if name else name
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{name}: {message}" if name else message)
    return "; ".join(parts)
