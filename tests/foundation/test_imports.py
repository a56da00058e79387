"""STYLE.md's dependency rules, kept by walking every import with `ast`.

- pure modules (a feature's domain.py, the pure ledger modules, kernel/*) import no sqlalchemy, grpc,
  loyalty.v1 (generated code) or asyncio;
- no feature imports another feature's `store` or `domain` (they use its `api`);
- the clients distribution imports nothing from the server.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "loyalty_service"
CLIENTS = ROOT / "clients" / "loyalty_clients"
PURE_LEDGER = ("earning.py", "lots.py", "refunds.py")
FORBIDDEN_IN_PURE = ("sqlalchemy", "grpc", "loyalty", "asyncio")
"""Top-level packages; `loyalty` is the generated loyalty.v1 code (not loyalty_service)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module `path` imports, absolute; `from a import b` yields both `a` and `a.b`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [node.module])])
            else:
                base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def features() -> list[str]:
    return sorted(p.parent.name for p in SERVER.glob("*/service.py"))


def pure_modules() -> list[Path]:
    pure = [SERVER / feature / "domain.py" for feature in features()]
    pure += [SERVER / "ledger" / name for name in PURE_LEDGER]
    pure += sorted((SERVER / "kernel").glob("*.py"))
    return [p for p in pure if p.exists()]


def test_the_walker_sees_features_and_pure_modules() -> None:
    """Goal: the rules below test something: the known features and pure modules are found."""
    assert {"members", "ledger", "program"} <= set(features())
    names = {p.relative_to(SERVER).as_posix() for p in pure_modules()}
    assert {"members/domain.py", "ledger/earning.py", "kernel/clock.py"} <= names
    assert "loyalty_service.ledger.api" in set(imports_of(SERVER / "members" / "linking.py"))


@pytest.mark.parametrize("path", pure_modules(), ids=lambda p: p.relative_to(SERVER).as_posix())
def test_pure_modules_import_no_io(path: Path) -> None:
    """Goal: domain and kernel code stays pure: no database, transport, generated protos or event loop."""
    bad = sorted({m for m in imports_of(path) if m.split(".")[0] in FORBIDDEN_IN_PURE})
    assert bad == []


def test_no_feature_reaches_into_another_features_store_or_domain() -> None:
    """Goal: features depend on each other only through `api` (and events, kernel)."""
    names = features()
    problems: list[str] = []
    for feature in names:
        for path in sorted((SERVER / feature).rglob("*.py")):
            for module in imports_of(path):
                parts = module.split(".")
                if (
                    len(parts) >= 3
                    and parts[0] == "loyalty_service"
                    and parts[1] in names
                    and parts[1] != feature
                    and parts[2] in ("store", "domain")
                ):
                    problems.append(f"{path.relative_to(ROOT)} imports {'.'.join(parts[:3])}")
    assert sorted(set(problems)) == []


def test_clients_import_nothing_from_the_server() -> None:
    """Goal: the clients distribution installs and runs without the server package."""
    problems = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted(CLIENTS.rglob("*.py"))
        for module in imports_of(path)
        if module.split(".")[0] == "loyalty_service"
    ]
    assert sorted(set(problems)) == []
