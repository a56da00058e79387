"""`serve --workers N`: N processes on one port, one migration, signals forwarded, exit 0 when all stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loyalty_service.supervisor import WORKERS_MAX, core_count, parse_workers
from tests.support.database import TestDatabase
from tests.support.processes import TEST_SIGNING_KEY, free_port, wait_serving


def test_parse_workers() -> None:
    assert parse_workers(None) == core_count()  # the default: one process per core
    assert parse_workers("") == core_count()
    assert parse_workers("1") == 1
    assert parse_workers("3") == 3
    assert parse_workers("0") == core_count()
    assert parse_workers("auto") == core_count()
    for bad in ("-1", str(WORKERS_MAX + 1), "many"):
        with pytest.raises(ValueError, match="workers"):
            parse_workers(bad)


def _serving_lines(log: Path) -> int:
    return log.read_text(errors="replace").count("loyalty-service serving on")


async def test_two_workers_share_a_port_and_stop_cleanly(test_db: TestDatabase, tmp_path: Path) -> None:
    """Goal: both children serve the one port and SIGTERM to the parent stops them all with exit 0."""
    url = await test_db.new_database()
    await asyncio.to_thread(_two_workers, url, tmp_path)


def _two_workers(url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "LOYALTY_DATABASE_URL": url,
        "LOYALTY_GRPC_PORT": str(port),
        "LOYALTY_METRICS_PORT": "0",
        "LOYALTY_TOKEN_SIGNING_KEY": TEST_SIGNING_KEY,
        "LOYALTY_DATA_DIR": str(tmp_path / "data"),
        "LOYALTY_GRACE_SECONDS": "2",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        parent = subprocess.Popen(
            [sys.executable, "-m", "loyalty_service", "serve", "--workers", "2"],
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 60
        while _serving_lines(log) < 2:
            assert parent.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        wait_serving(f"127.0.0.1:{port}", timeout=10, process=parent)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(30) == 0, log.read_text()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert "supervising 2 workers" in log.read_text()
