"""Servers as separate OS processes sharing one database, as replicas behind a load balancer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["TEST_SIGNING_KEY", "ServerProcess", "free_port", "start_server_process"]

TEST_SIGNING_KEY = "test-signing-key-for-the-loyalty-service-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_serving(address: str, *, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before serving")
        with grpc.insecure_channel(address) as channel:
            try:
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
        time.sleep(0.1)
    raise TimeoutError(f"{address} not serving after {timeout}s")


def start_server_process(
    database_url: str, log_dir: Path, *, extra_env: dict[str, str] | None = None, port: int | None = None
) -> ServerProcess:
    """Start `loyalty-service serve` on a free loopback port and wait until it is SERVING."""
    port = port or free_port()
    env = {
        **os.environ,
        "LOYALTY_DATABASE_URL": database_url,
        "LOYALTY_GRPC_HOST": "127.0.0.1",
        "LOYALTY_GRPC_PORT": str(port),
        "LOYALTY_METRICS_PORT": "0",
        "LOYALTY_TOKEN_SIGNING_KEY": TEST_SIGNING_KEY,
        "LOYALTY_DATA_DIR": str(log_dir / f"data-{port}"),
        "LOYALTY_MIGRATE_ON_START": "false",
        "LOYALTY_GRACE_SECONDS": "5",
        "LOYALTY_WORKERS": "1",  # one process per server: the tests signal and kill it by pid
        **(extra_env or {}),
    }
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "loyalty_service", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = ServerProcess(process=process, port=port, log_path=log_path)
    try:
        wait_serving(server.address, timeout=30, process=process)
    except BaseException:
        server.kill()
        raise RuntimeError(f"server did not start:\n{server.log()}") from None
    return server
