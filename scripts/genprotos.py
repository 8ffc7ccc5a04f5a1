"""Generates the Python code for protos/ into libs/herald_protos (or another folder).

`make protos` runs it; tests/unit/test_protos_fresh.py runs it into a temporary folder
and fails when the committed code differs, so generated code is never edited by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"


def generate(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(PROTOS.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(s.relative_to(PROTOS)) for s in sources),
    ]
    import os

    cwd = os.getcwd()
    os.chdir(PROTOS)
    try:
        code = protoc.main(args)
    finally:
        os.chdir(cwd)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    for folder in [out_dir / "herald", *(p for p in (out_dir / "herald").rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    return sorted(p for p in out_dir.rglob("*") if p.is_file())


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "libs" / "herald_protos"
    for path in generate(target):
        print(path.relative_to(target))
