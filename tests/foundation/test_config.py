"""Settings are validated once at start, and every refusal names the LOYALTY_* variable at fault."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loyalty_service.config import Settings, SettingsError, load_settings
from tests.foundation.helpers import cli, service_env

GOOD_KEY = "k" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LOYALTY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LOYALTY_DATA_DIR", str(tmp_path))


def test_defaults_are_a_development_service() -> None:
    """Goal: with nothing set, settings load and describe a development service on the embedded database."""
    settings = load_settings()
    assert settings.environment == "development"
    assert settings.database_url is None
    assert settings.grpc_port == 50051
    assert settings.migrate_on_start is True


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Goal: LOYALTY_* variables set the fields, typed."""
    monkeypatch.setenv("LOYALTY_GRPC_PORT", "6000")
    monkeypatch.setenv("LOYALTY_MIGRATE_ON_START", "false")
    monkeypatch.setenv("LOYALTY_DATABASE_URL", "postgresql://u:p@db:5432/loyalty")
    settings = load_settings()
    assert (settings.grpc_port, settings.migrate_on_start) == (6000, False)
    assert settings.database_url == "postgresql://u:p@db:5432/loyalty"


@pytest.mark.parametrize("value", ["not-a-port", "70000", "-1"])
def test_bad_port_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """Goal: a bad LOYALTY_GRPC_PORT is refused, the message naming the variable."""
    monkeypatch.setenv("LOYALTY_GRPC_PORT", value)
    with pytest.raises(SettingsError, match="LOYALTY_GRPC_PORT"):
        load_settings()


def test_bad_database_url_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Goal: a URL that is not PostgreSQL is refused before anything connects."""
    monkeypatch.setenv("LOYALTY_DATABASE_URL", "mysql://db/loyalty")
    with pytest.raises(SettingsError, match="LOYALTY_DATABASE_URL"):
        load_settings()


def test_production_requires_a_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Goal: production never runs on a generated development signing key."""
    monkeypatch.setenv("LOYALTY_ENVIRONMENT", "production")
    monkeypatch.setenv("LOYALTY_DATABASE_URL", "postgresql://u:p@db:5432/loyalty")
    with pytest.raises(SettingsError, match="LOYALTY_TOKEN_SIGNING_KEY"):
        load_settings()
    monkeypatch.setenv("LOYALTY_TOKEN_SIGNING_KEY", GOOD_KEY)
    assert load_settings().environment == "production"


def test_production_requires_a_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Goal: production does not quietly start an embedded database."""
    monkeypatch.setenv("LOYALTY_ENVIRONMENT", "production")
    monkeypatch.setenv("LOYALTY_TOKEN_SIGNING_KEY", GOOD_KEY)
    with pytest.raises(SettingsError, match="LOYALTY_DATABASE_URL"):
        load_settings()


@pytest.mark.parametrize("key", ["short", "k" * 31, "changeme"])
def test_short_or_placeholder_signing_key_is_refused(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """Goal: a signing key under 32 bytes is refused, in development too (the edge: 31 refused, 32 taken)."""
    monkeypatch.setenv("LOYALTY_TOKEN_SIGNING_KEY", key)
    with pytest.raises(SettingsError, match="LOYALTY_TOKEN_SIGNING_KEY"):
        load_settings()


def test_the_signing_key_never_shows_in_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Goal: printing the settings (as a log or traceback might) does not reveal the key."""
    secret = "a-secret-signing-key-of-more-than-32-bytes"
    monkeypatch.setenv("LOYALTY_TOKEN_SIGNING_KEY", secret)
    settings = load_settings()
    assert secret not in repr(settings)
    assert secret not in str(settings)
    assert isinstance(settings, Settings)


def test_serve_with_a_bad_port_exits_2_naming_the_variable(tmp_path: Path) -> None:
    """Goal: `loyalty-service serve` refuses bad settings at once, exit code 2, a message naming them."""
    done = cli("serve", env=service_env(None, LOYALTY_GRPC_PORT="not-a-port", LOYALTY_DATA_DIR=str(tmp_path)))
    assert done.returncode == 2, done.stderr
    assert "LOYALTY_GRPC_PORT" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "pgdata").exists(), "nothing started before the settings were checked"
