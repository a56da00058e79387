"""Generate the Python code of protos/ into clients/ (or another folder, for the drift test).

Usage: python scripts/generate_protos.py [OUT_DIR]

Runs grpcio-tools' protoc with the mypy-protobuf plugins, so every module comes with a `.pyi` stub.
The output is deterministic: the drift test regenerates it into a temporary folder and compares.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
DEFAULT_OUT = ROOT / "clients"
PACKAGE = Path("loyalty") / "v1"


def _plugin(name: str) -> str:
    found = shutil.which(name) or str(Path(sysconfig.get_path("scripts")) / name)
    if not Path(found).exists():
        raise SystemExit(f"{name} not found: install mypy-protobuf")
    return found


def generate(out_dir: Path) -> list[Path]:
    """Write loyalty/v1/*_pb2*.py(i) below out_dir and return the files written."""
    target = out_dir / PACKAGE
    if target.exists():
        for old in target.glob("*_pb2*.py*"):
            old.unlink()
    target.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / PACKAGE).glob("*.proto"))
    well_known = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package in (out_dir / "loyalty", target):
        init = package / "__init__.py"
        if not init.exists():
            init.write_text('"""Generated from protos/ by scripts/generate_protos.py; do not edit."""\n')
    return sorted(target.glob("*_pb2*.py*"))


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    for path in generate(out):
        print(path.relative_to(out))
