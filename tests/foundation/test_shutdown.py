"""SIGTERM ends a serving process cleanly, and the embedded PostgreSQL lives and dies with it."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import psutil
from loyalty.v1 import members_pb2, members_pb2_grpc

from tests.foundation.helpers import cli, service_env
from tests.support.processes import ServerProcess, free_port, wait_serving

Start = Callable[[int], Awaitable[tuple[str, list[ServerProcess]]]]
GRACE_SECONDS = 5.0  # what start_server_process configures


async def test_sigterm_exits_zero_within_the_grace_period(server_processes: Start) -> None:
    """Goal: `kill -TERM` of a serving process exits 0 in time, and health stops answering SERVING."""
    _url, [server] = await server_processes(1)
    health = cli("health", "--address", server.address, env=service_env(None))
    assert health.returncode == 0, health.stderr
    assert health.stdout.strip() == "SERVING"
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(GRACE_SECONDS + 10)
    elapsed = time.monotonic() - started
    assert code == 0, server.log()
    assert elapsed < GRACE_SECONDS + 3, f"took {elapsed:.1f}s"
    after = cli("health", "--address", server.address, "--timeout", "1", env=service_env(None))
    assert after.returncode != 0
    assert '"msg": "stopping"' in server.log()


class _Embedded:
    """`loyalty-service serve --demo` with no database URL: its own PostgreSQL in `data_dir`."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.out = log_dir / f"embedded-{self.port}.out"
        self.err = log_dir / f"embedded-{self.port}.err"
        env = service_env(
            None,
            LOYALTY_DATA_DIR=str(data_dir),
            LOYALTY_GRPC_HOST="127.0.0.1",
            LOYALTY_GRPC_PORT=str(self.port),
            LOYALTY_METRICS_PORT="0",
            LOYALTY_GRACE_SECONDS="2",
            LOYALTY_WORKERS="1",  # one process: the demo banner is its stdout
        )
        env.pop("LOYALTY_TEST_DATABASE_URL", None)
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "loyalty_service", "serve", "--demo"], env=env, stdout=out, stderr=err
            )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def webshop_key(self) -> str:
        # Health says SERVING before `--demo` has printed its credentials: wait for the banner.
        deadline = time.monotonic() + 30
        text = self.out.read_text()
        while "loyalty-service serving on" not in text and time.monotonic() < deadline:
            time.sleep(0.05)
            text = self.out.read_text()
        demo = json.loads(text[: text.index("loyalty-service serving on")])
        return str(demo["credentials"]["webshop"]["api_key"])

    def logs(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")


@contextmanager
def _serving(data_dir: Path, log_dir: Path) -> Iterator[_Embedded]:
    server = _Embedded(data_dir, log_dir)
    try:
        wait_serving(server.address, timeout=90, process=server.process)
        yield server
    finally:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(5)


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def _stop_and_check(server: _Embedded, pgdata: Path) -> None:
    postmaster = _postmaster_pid(pgdata)
    assert psutil.pid_exists(postmaster)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(30) == 0, server.logs()
    assert not (pgdata / "postmaster.pid").exists(), "embedded PostgreSQL left running"
    deadline = time.monotonic() + 5
    while psutil.pid_exists(postmaster) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(postmaster), "embedded postmaster still alive"


def test_embedded_database_starts_stops_and_keeps_its_data(tmp_path: Path) -> None:
    """Goal: with no database URL the service runs its own PostgreSQL, stops it, and reuses the data."""
    data_dir = tmp_path / "data"
    pgdata = data_dir / "pgdata"
    with _serving(data_dir, tmp_path) as first:
        key = first.webshop_key()
        metadata = (("authorization", f"Bearer {key}"),)
        with grpc.insecure_channel(first.address) as channel:
            answer = members_pb2_grpc.MemberServiceStub(channel).EnrollMember(
                members_pb2.EnrollMemberRequest(
                    idempotency_key="k-" + secrets.token_hex(8), display_name="Kept"
                ),
                metadata=metadata,
                timeout=10,
            )
        member_id = answer.member.member_id
        assert (pgdata / "PG_VERSION").exists()
        _stop_and_check(first, pgdata)
    with _serving(data_dir, tmp_path) as second:
        assert second.webshop_key() == key, "the demo keeps its credentials across starts"
        with grpc.insecure_channel(second.address) as channel:
            found = members_pb2_grpc.MemberServiceStub(channel).GetMember(
                members_pb2.GetMemberRequest(member_id=member_id), metadata=metadata, timeout=10
            )
        assert found.member.display_name == "Kept"
        _stop_and_check(second, pgdata)
    assert os.path.isdir(pgdata), "the data folder outlives the process"
