"""herald up --replicas refuses SQLite (one writer per file) and a bad HERALD_UP_REPLICAS."""

from __future__ import annotations

from herald_cli.main import main


def test_replicas_need_postgresql(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HERALD_DATABASE_URL", raising=False)
    monkeypatch.setenv("HERALD_UP_WITHOUT", "")
    assert main(["up", "--data-dir", str(tmp_path), "--replicas", "2"]) == 1
    assert "--replicas needs PostgreSQL" in capsys.readouterr().err
    monkeypatch.setenv("HERALD_UP_REPLICAS", "lots")
    assert main(["up", "--data-dir", str(tmp_path)]) == 1
    assert "HERALD_UP_REPLICAS" in capsys.readouterr().err
