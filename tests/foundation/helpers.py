"""Helpers of the foundation tests: the CLI as a subprocess, loyalty.v1 services from descriptors."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import loyalty.v1
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

__all__ = ["cli", "cli_json", "cli_parallel", "loyalty_services", "method_path", "service_env"]

_ENTRY_POINT = Path(sys.executable).with_name("loyalty-service")


def loyalty_services() -> list[ServiceDescriptor]:
    """Every service of every generated loyalty.v1 *_pb2 module (later issues add modules)."""
    found: list[ServiceDescriptor] = []
    for module in pkgutil.iter_modules(loyalty.v1.__path__):
        if module.name.endswith("_pb2"):
            pb2 = importlib.import_module(f"loyalty.v1.{module.name}")
            found.extend(pb2.DESCRIPTOR.services_by_name.values())
    return sorted(found, key=lambda s: s.full_name)


def method_path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def service_env(database_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: ours without any LOYALTY_* leaking in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    if database_url is not None:
        env["LOYALTY_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the installed `loyalty-service` entry point."""
    command = [str(_ENTRY_POINT)] if _ENTRY_POINT.exists() else [sys.executable, "-m", "loyalty_service"]
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def cli_json(*args: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """Run the CLI, require exit 0, and parse each stdout line as JSON."""
    done = cli(*args, env=env)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def cli_parallel(*commands: tuple[str, ...], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """Run independent CLI commands at once (each start costs about a second), in order of `commands`."""
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(lambda args: cli(*args, env=env), commands))
