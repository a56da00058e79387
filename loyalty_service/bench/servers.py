"""The service under test: `loyalty-service serve --workers N` as a child process tree, and its memory.

The bench runs the real command (supervisor and all) so that it measures what operators run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from loyalty_service.config import Settings

__all__ = ["ServiceUnderTest", "group_commit_setting", "resident_mb", "start_service_processes"]

_START_TIMEOUT_SECONDS = 60.0
_STOP_TIMEOUT_SECONDS = 20.0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces; the fields after it are fixed.
    return int(stat.rsplit(")", 1)[1].split()[1])


def resident_mb(pid: int) -> float | None:
    """VmRSS of a process from /proc (no psutil needed); None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class ServiceUnderTest:
    process: subprocess.Popen[bytes]
    address: str
    workers: int
    log_path: Path

    def server_pids(self) -> list[int]:
        """The processes that serve: the supervisor's children, or the process itself with one worker."""
        if self.workers == 1:
            return [self.process.pid]
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _parent_of(int(entry.name)) == self.process.pid:
                children.append(int(entry.name))
        return sorted(children)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> int | None:
        """SIGTERM (forwarded to the workers), then SIGKILL if the grace runs out."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            for pid in self.server_pids():
                _kill(pid)
            self.process.kill()
            return self.process.wait(5)


def _kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def _serving_count(log_path: Path) -> int:
    return log_path.read_text(errors="replace").count("loyalty-service serving on")


def group_commit_setting() -> int:
    """The group commit the service processes run with (they inherit this environment)."""
    default = Settings.model_fields["group_commit_transactions"].default
    return int(os.environ.get("LOYALTY_GROUP_COMMIT_TRANSACTIONS", default))


def start_service_processes(
    *, database_url: str, workers: int, work_dir: Path, name: str = "service"
) -> ServiceUnderTest:
    """Start the service and wait until every worker says it is serving (bounded).

    `name` keeps the log and data folder of several services in one `work_dir` apart.
    """
    port = _free_port()
    env = {
        **os.environ,
        "LOYALTY_DATABASE_URL": database_url,
        "LOYALTY_GRPC_HOST": "127.0.0.1",
        "LOYALTY_GRPC_PORT": str(port),
        "LOYALTY_METRICS_PORT": "0",
        "LOYALTY_TOKEN_SIGNING_KEY": secrets.token_urlsafe(48),
        "LOYALTY_DATA_DIR": str(work_dir / f"{name}-data"),
        "LOYALTY_MIGRATE_ON_START": "false",
        "LOYALTY_GRACE_SECONDS": "5",
        "LOYALTY_LOG_LEVEL": "WARNING",
        "LOYALTY_DB_POOL_SIZE": os.environ.get("LOYALTY_DB_POOL_SIZE", "20"),
    }
    log_path = work_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "loyalty_service", "serve", "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = ServiceUnderTest(
        process=process, address=f"127.0.0.1:{port}", workers=workers, log_path=log_path
    )
    try:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while _serving_count(log_path) < workers:
            if process.poll() is not None:
                raise RuntimeError(f"service exited with {process.returncode}:\n{service.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"service not serving after {_START_TIMEOUT_SECONDS:.0f}s")
            time.sleep(0.1)
    except BaseException:
        service.stop()
        raise
    return service
