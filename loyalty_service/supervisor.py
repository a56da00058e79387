"""`serve --workers N`: N server processes on one port, so one host uses all its cores.

CPython runs one core per process, and a gRPC server is mostly Python, so a single process leaves the
other cores idle. The parent migrates once (children would only queue on the advisory lock), picks the
port, starts an embedded PostgreSQL if no URL is set, and starts N children that each run the normal
single-process server on that port: `grpc.so_reuseport` (set in `app.build_server`) lets the kernel spread
new connections over them. The parent forwards SIGTERM/SIGINT, waits, and exits 0 only when every child
exited 0. It never restarts a child: if one fails, it stops the others and exits non-zero, so the
orchestrator (systemd, Kubernetes) sees the failure instead of a half-capacity server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from loyalty_service.config import Settings

__all__ = ["parse_workers", "run_workers"]

_log = logging.getLogger(__name__)

WORKERS_MAX = 64
"""A bound on the children one parent starts."""
_POLL_SECONDS = 0.2
_KILL_AFTER_GRACE_SECONDS = 10.0


def core_count() -> int:
    """The cores this process may run on (the affinity mask, which containers narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def parse_workers(value: str | None) -> int:
    """`--workers` / LOYALTY_WORKERS: a count, or `0`/`auto` for the core count; unset is the core count.

    One CPython process uses one core, so a host serves with all of them unless told otherwise
    (`--workers 1` or LOYALTY_WORKERS=1 for a single process, as the tests' servers do).
    """
    if value is None or value.strip() == "":
        return core_count()
    text = value.strip().lower()
    if text == "auto":
        return core_count()
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"workers must be a number or 'auto', not {value!r}") from None
    if count < 0 or count > WORKERS_MAX:
        raise ValueError(f"workers must be between 0 and {WORKERS_MAX}, not {count}")
    return count or core_count()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def _migrate(url: str, timeout_seconds: float) -> None:
    from loyalty_service.db.engine import create_engine, wait_for_database
    from loyalty_service.db.migrate import migrate

    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        await wait_for_database(engine, timeout_seconds=timeout_seconds)
        await migrate(engine)
    finally:
        await engine.dispose()


def _child_env(settings: Settings, *, url: str, port: int, index: int) -> dict[str, str]:
    metrics_port = settings.metrics_port + index if settings.metrics_port else 0
    return {
        **os.environ,
        "LOYALTY_DATABASE_URL": url,
        "LOYALTY_GRPC_HOST": settings.grpc_host,
        "LOYALTY_GRPC_PORT": str(port),
        "LOYALTY_METRICS_PORT": str(metrics_port),
        "LOYALTY_MIGRATE_ON_START": "false",
        "LOYALTY_WORKERS": "1",
    }


def _signal_all(children: Sequence[subprocess.Popen[bytes]], sig: int) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(sig)


def _supervise(children: Sequence[subprocess.Popen[bytes]], grace_seconds: float) -> list[int]:
    """Forward stop signals, stop everyone when one child fails, and return every exit code."""
    stopping: list[float] = []

    def forward(sig: int, _frame: FrameType | None) -> None:
        if not stopping:
            stopping.append(time.monotonic())
        _signal_all(children, sig)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while any(child.poll() is None for child in children):
            failed = [c for c in children if c.returncode not in (None, 0)]
            if failed and not stopping:
                _log.error(
                    "worker %d exited with %d; stopping the others", failed[0].pid, failed[0].returncode
                )
                stopping.append(time.monotonic())
                _signal_all(children, signal.SIGTERM)
            if stopping and time.monotonic() - stopping[0] > grace_seconds + _KILL_AFTER_GRACE_SECONDS:
                _signal_all(children, signal.SIGKILL)
            time.sleep(_POLL_SECONDS)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return [child.wait() for child in children]


def run_workers(settings: Settings, *, workers: int, demo: bool = False) -> int:
    """Migrate once, run `workers` single-process servers on one port until they stop; 0 iff all did."""
    assert 1 < workers <= WORKERS_MAX
    from loyalty_service.app import database_url

    url, embedded = database_url(settings)
    children: list[subprocess.Popen[bytes]] = []
    try:
        if settings.migrate_on_start:
            asyncio.run(_migrate(url, settings.db_connect_timeout_seconds))
        port = settings.grpc_port or _free_port(settings.grpc_host)
        for index in range(workers):
            command = [sys.executable, "-m", "loyalty_service", "serve", "--workers", "1"]
            if demo and index == 0:
                command.append("--demo")  # one child creates the demo programme, once
            env = _child_env(settings, url=url, port=port, index=index)
            children.append(subprocess.Popen(command, env=env))
        print(f"loyalty-service supervising {workers} workers on {settings.grpc_host}:{port}", flush=True)
        codes = _supervise(children, settings.grace_seconds)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        if embedded is not None:
            embedded.stop()
    _log.info("workers stopped", extra={"fields": {"exit_codes": codes}})
    return 0 if all(code == 0 for code in codes) else 1
