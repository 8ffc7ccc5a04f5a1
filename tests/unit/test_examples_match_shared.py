"""The campaign files in examples/ are the ones users write (../shared/examples): kept identical."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "examples"


def test_examples_are_present():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.yaml"))


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/examples beside this checkout (only in the team's workspace and CI)")
def test_examples_are_identical_to_the_shared_ones():
    ours = {p.name: p.read_bytes() for p in (ROOT / "examples").glob("*.yaml")}
    theirs = {p.name: p.read_bytes() for p in SHARED.glob("*.yaml")}
    assert ours == theirs
