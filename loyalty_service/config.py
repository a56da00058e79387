"""One Settings object, read once from `LOYALTY_*` environment variables and passed down.

Required secrets have no usable default outside development: `Settings.validate_for_start` refuses a
placeholder signing key when `environment` is `production`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "SettingsError"]


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names it."""


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("loyalty-service"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOYALTY_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    """In production every secret must be given explicitly."""
    database_url: str | None = None
    """postgresql://user:pass@host:port/db. Unset: start an embedded PostgreSQL in `data_dir`."""
    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where the embedded PostgreSQL and the development signing key live."""
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    """Prometheus scrape port; 0 picks a free one, -1 is not allowed."""
    metrics_host: str = "127.0.0.1"
    grace_seconds: float = Field(default=10.0, ge=0, le=300)
    """How long SIGTERM waits for calls in flight."""
    migrate_on_start: bool = True
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=5, ge=0, le=200)
    db_connect_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """Bounded wait for the database at start."""
    token_signing_key: SecretStr | None = None
    """HMAC-SHA256 key of member tokens, at least 32 bytes. Unset in development: a key kept in data_dir."""
    token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    token_max_ttl_seconds: int = Field(default=3600, ge=30, le=86_400)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    maintenance_interval_seconds: float = Field(default=60.0, ge=0.05, le=86_400)
    """How often the server releases pending points and expires old ones."""
    idempotency_retention_days: int = Field(default=7, ge=7, le=365)

    @field_validator("database_url")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(
            ("postgresql://", "postgresql+asyncpg://", "postgres://")
        ):
            raise ValueError("must be a postgresql:// URL")
        return value or None

    def validate_for_start(self) -> None:
        if self.environment == "production":
            if self.token_signing_key is None:
                raise SettingsError("LOYALTY_TOKEN_SIGNING_KEY is required in production")
            if self.database_url is None:
                raise SettingsError("LOYALTY_DATABASE_URL is required in production")
        key = self.token_signing_key
        if key is not None and len(key.get_secret_value().encode()) < 32:
            raise SettingsError("LOYALTY_TOKEN_SIGNING_KEY must be at least 32 bytes")
        if key is not None and key.get_secret_value().lower() in {"changeme", "change-me", "secret"}:
            raise SettingsError("LOYALTY_TOKEN_SIGNING_KEY is a placeholder")


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; a validation error becomes one clear message per field."""
    from pydantic import ValidationError

    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = [f"LOYALTY_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
    settings.validate_for_start()
    return settings
