"""The committed generated code equals what `make protos` produces from protos/."""

from __future__ import annotations

from scripts.genprotos import ROOT, generate


def test_generated_protos_match_the_proto_files(tmp_path):
    generated = generate(tmp_path)
    committed_root = ROOT / "libs" / "herald_protos"
    stale = []
    for path in generated:
        relative = path.relative_to(tmp_path)
        committed = committed_root / relative
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(str(relative))
    extra = {
        str(p.relative_to(committed_root))
        for p in committed_root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    } - {str(p.relative_to(tmp_path)) for p in generated}
    assert not stale and not extra, f"generated code is stale, run `make protos`: {sorted(stale) + sorted(extra)}"
