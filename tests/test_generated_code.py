"""The stubs committed in clients/loyalty/ are exactly what scripts/generate_protos.py makes of protos/."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "scripts" / "generate_protos.py"
COMMITTED = ROOT / "clients" / "loyalty"
# Files in clients/loyalty/ that are written by hand, not by the generator.
HAND_WRITTEN = {Path("py.typed")}
HINT = "the generated code is out of date: run python scripts/generate_protos.py"


def _files(base: Path) -> dict[Path, bytes]:
    """Every file below base (caches excluded), by path relative to base."""
    return {
        path.relative_to(base): path.read_bytes()
        for path in sorted(base.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def _generate(out_dir: Path, env: dict[str, str] | None = None) -> Path:
    """Run the generator with this interpreter into out_dir and return out_dir/loyalty."""
    result = subprocess.run(
        [sys.executable, str(GENERATOR), str(out_dir)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"scripts/generate_protos.py failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return out_dir / "loyalty"


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    """Regenerating the stubs gives byte-identical files, none missing and none extra."""
    fresh = _files(_generate(tmp_path))
    committed = {path: data for path, data in _files(COMMITTED).items() if path not in HAND_WRITTEN}

    assert fresh, "the generator produced no files"
    assert any(path.suffix == ".pyi" for path in fresh), "the generator produced no .pyi stubs"
    missing = sorted(str(path) for path in fresh.keys() - committed.keys())
    extra = sorted(str(path) for path in committed.keys() - fresh.keys())
    differ = sorted(str(path) for path in fresh.keys() & committed.keys() if fresh[path] != committed[path])
    assert not missing, f"missing from clients/loyalty/: {missing}; {HINT}"
    assert not extra, f"in clients/loyalty/ but not generated from protos/ (stale?): {extra}; {HINT}"
    assert not differ, f"differ from the generated code: {differ}; {HINT}"


def test_generation_needs_no_npx(tmp_path: Path) -> None:
    """The stubs are generated with Python tools only: npx, npm, node and buf are never called."""
    source = GENERATOR.read_text(encoding="utf-8")
    called = re.findall(r"""["'](npx|npm|node|buf)\b""", source)
    assert not called, f"scripts/generate_protos.py refers to {called}"

    # Shadow the Node/buf tools with stubs that record any call and fail.
    trap = tmp_path / "trap-bin"
    trap.mkdir()
    calls = tmp_path / "calls.log"
    for tool in ("npx", "npm", "node", "buf", "protoc"):
        stub = trap / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nexit 97\n', encoding="utf-8")
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(trap), env.get("PATH", "")])

    generated = _files(_generate(tmp_path / "out", env=env))

    assert not calls.exists(), f"the generator called non-Python tools: {calls.read_text(encoding='utf-8')}"
    assert any(path.name.endswith("_pb2.py") for path in generated)
