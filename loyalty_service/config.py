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
    group_commit_transactions: int = Field(default=2, ge=0, le=64)
    """Group commit of RecordPurchase and of SpendPoints (loyalty_service/group_commit.py), per method:
    calls arriving while this many groups are being written per process wait and are committed together
    as the next group; a call that finds a free slot is written at once, alone. 0: one transaction per
    call. 2 (the default) gave the most earns per second that kept the mixed load's p99 under 25 ms here
    (docs/performance.md)."""
    group_commit_max_calls: int = Field(default=32, ge=1, le=1000)
    """The most calls of one method committed in one transaction."""
    token_signing_key: SecretStr | None = None
    """HMAC-SHA256 key of member tokens, at least 32 bytes. Unset in development: a key kept in data_dir."""
    token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    token_max_ttl_seconds: int = Field(default=3600, ge=30, le=86_400)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    maintenance_interval_seconds: float = Field(default=60.0, ge=0.05, le=86_400)
    """How often the server releases pending points and expires old ones."""
    idempotency_retention_days: int = Field(default=7, ge=7, le=365)
    rate_limit_per_second: float = Field(default=0.0, ge=0, le=1_000_000)
    """Calls per second per caller (API credential, or member for member tokens), per replica; 0 is off."""
    rate_limit_burst: int = Field(default=0, ge=0, le=1_000_000)
    """Calls a caller may make at once above the rate; 0: one second's worth (at least 1)."""
    tls_cert_file: Path | None = None
    """PEM server certificate (chain). With tls_key_file: serve TLS only. Unset: plaintext."""
    tls_key_file: Path | None = None
    """PEM private key of tls_cert_file; read from the file at start, never from the environment."""
    tls_client_ca_file: Path | None = None
    """PEM CA bundle: when set, every client must present a certificate it signed (mTLS, e.g. tills)."""
    watch_heartbeat_seconds: float = Field(default=15.0, ge=0.05, le=3600)
    """A live stream with nothing to send for this long sends a heartbeat (idle streams survive proxies)."""
    watch_reread_seconds: float = Field(default=5.0, ge=0.05, le=3600)
    """Safety poll, once per process: streams behind the newest events are woken even without a
    notification. Also the listening connection's liveness check."""
    watch_batch_size: int = Field(default=100, ge=1, le=10_000)
    """Events read per query: the most a stream holds in memory."""
    watch_write_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    """A stream whose consumer takes longer than this to accept one message ends with RESOURCE_EXHAUSTED."""
    watch_max_lag_seconds: float = Field(default=60.0, gt=0, le=86_400)
    """A stream delivering an event committed after it started this late ends with RESOURCE_EXHAUSTED."""
    watch_max_streams: int = Field(default=20_000, ge=1, le=1_000_000)
    """Open live streams per process; more are refused with RESOURCE_EXHAUSTED."""
    watch_read_concurrency: int = Field(default=4, ge=1, le=100)
    """Outbox reads of live streams at once, so a wake-up of every stream never starves other calls."""
    events_retention_days: float = Field(default=7.0, gt=0, le=3650)
    """Outbox rows older than this are pruned (once no local stream needs them). At least the longest
    disconnection a client may resume from."""
    events_prune_interval_seconds: float = Field(default=300.0, ge=0.05, le=86_400)
    checkin_position_retention_hours: float = Field(default=24.0, gt=0, le=720)
    """The last accepted check-in position is kept this long for the travel check, then deleted."""
    checkin_hourly_limit: int = Field(default=20, ge=1, le=10_000)
    """Check-in attempts (refused ones too) allowed per member per hour."""
    checkin_max_speed_kmh: int = Field(default=250, ge=1, le=100_000)
    """Fastest plausible travel between two check-ins."""
    checkin_max_accuracy_m: float = Field(default=200.0, gt=0, le=5000)
    """Worst accepted device accuracy, whatever the place radius."""

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
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise SettingsError("LOYALTY_TLS_CERT_FILE and LOYALTY_TLS_KEY_FILE go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise SettingsError(
                "LOYALTY_TLS_CLIENT_CA_FILE needs LOYALTY_TLS_CERT_FILE and LOYALTY_TLS_KEY_FILE"
            )
        for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise SettingsError(f"LOYALTY_{name.upper()}: {path} is not a readable file")
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
