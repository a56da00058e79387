"""The Dockerfile installs the service like the README run command, runs it as non-root, health-checks it."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"
EXPECTED_INSTALL_TARGETS = ["./clients", "."]


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends with a line continuation"
    return instructions


def _arguments(keyword: str) -> list[str]:
    return [arguments for instruction, arguments in _instructions() if instruction == keyword]


def _command(arguments: str) -> list[str]:
    """An exec-form (JSON array) or shell-form command as a list of words."""
    if arguments.startswith("["):
        words = json.loads(arguments)
        assert isinstance(words, list)
        return [str(word) for word in words]
    return shlex.split(arguments)


def _pip_install_targets(command: str) -> list[str] | None:
    """What the first `pip install` of a shell command installs (options dropped), None if it has none."""
    for part in re.split(r"&&|\|\||;", command):
        words = shlex.split(part)
        for index in range(len(words) - 1):
            if Path(words[index]).name.startswith("pip") and words[index + 1] == "install":
                return [word for word in words[index + 2 :] if not word.startswith("-")]
    return None


def _dockerfile_install_targets() -> list[str]:
    found = [targets for run in _arguments("RUN") if (targets := _pip_install_targets(run)) is not None]
    assert len(found) == 1, f"expected exactly one pip install in the Dockerfile, found {found}"
    return found[0]


def test_base_image_is_python_311_slim() -> None:
    """The image builds on the official python:3.11-slim image."""
    froms = _arguments("FROM")
    assert froms, "no FROM line"
    assert froms[0].split()[0] == "python:3.11-slim"


def test_runs_as_non_root_user() -> None:
    """The final USER is neither root nor uid 0, so the service (and its PostgreSQL) never runs as root."""
    users = _arguments("USER")
    assert users, "no USER line: the container would run as root"
    user = users[-1].split(":")[0].strip()
    assert user not in {"root", "0"}, f"USER {users[-1]} is root"


def test_exposes_grpc_port() -> None:
    """Port 50051 (gRPC) is exposed."""
    ports = {port.split("/")[0] for arguments in _arguments("EXPOSE") for port in arguments.split()}
    assert "50051" in ports


def test_healthcheck_calls_loyalty_service_health() -> None:
    """The HEALTHCHECK asks the gRPC health service through the installed `loyalty-service health`."""
    healthchecks = _arguments("HEALTHCHECK")
    assert len(healthchecks) == 1, f"expected one HEALTHCHECK, found {healthchecks}"
    options, found, arguments = healthchecks[0].partition("CMD")
    assert found, "HEALTHCHECK has no CMD"
    assert all(word.startswith("--") for word in shlex.split(options)), f"odd HEALTHCHECK options {options}"
    command = _command(arguments.strip())
    assert command[:2] == ["loyalty-service", "health"], f"HEALTHCHECK runs {command}"


def test_entrypoint_serves_by_default() -> None:
    """The container runs `loyalty-service serve` unless told otherwise."""
    assert [_command(arguments) for arguments in _arguments("ENTRYPOINT")][-1:] == [["loyalty-service"]]
    assert [_command(arguments) for arguments in _arguments("CMD")][-1:] == [["serve"]]


def test_installs_clients_and_service_like_the_run_command() -> None:
    """The image installs ./clients and . with pip, as the README's run command does."""
    assert _dockerfile_install_targets() == EXPECTED_INSTALL_TARGETS


def test_install_matches_readme_run_command() -> None:
    """The Dockerfile's pip install installs the same things as the run command in README.md."""
    if not README.exists():
        pytest.skip("README.md does not exist yet")
    readme = README.read_text(encoding="utf-8")
    run_commands = [
        command
        for command in re.findall(r"[^`\n]*pip install[^`\n]*", readme)
        if "loyalty-service serve" in command
    ]
    assert run_commands, "README.md has no run command (`... pip install ... && ... loyalty-service serve`)"
    readme_targets = _pip_install_targets(run_commands[0].strip().removeprefix("$").strip())
    assert readme_targets is not None
    assert readme_targets == EXPECTED_INSTALL_TARGETS, f"README run command installs {readme_targets}"
    assert _dockerfile_install_targets() == readme_targets
