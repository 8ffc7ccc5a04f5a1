"""`herald migrate` on SQLite files and on PostgreSQL schemas."""

from __future__ import annotations

import json

from herald_cli.main import main
from herald_cli.suite import services_with_migrations
from herald_common.db import create_service_engine, current_revision, head_revision


def use(settings, monkeypatch) -> None:
    monkeypatch.setenv("HERALD_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HERALD_DATABASE_SCHEMA_PREFIX", settings.database_schema_prefix)
    if settings.database_url:
        monkeypatch.setenv("HERALD_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("HERALD_DATABASE_URL", raising=False)


def test_migrate_brings_every_service_to_its_head_and_says_so(settings, monkeypatch, capsys):
    use(settings, monkeypatch)
    services = services_with_migrations()
    assert "identity" in services

    assert main(["migrate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == services
    assert all(f"migrated from nothing to {head_revision(s)}" in line for s, line in zip(services, lines))
    for service in services:
        engine = create_service_engine(settings, service)
        assert current_revision(engine) == head_revision(service)
        engine.dispose()

    assert main(["migrate", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert [(m["service"], m["before"], m["after"]) for m in again] == [
        (s, head_revision(s), head_revision(s)) for s in services
    ]


def test_an_unreachable_database_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HERALD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HERALD_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert main(["migrate"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("herald: cannot reach or create the database postgresql://nobody@127.0.0.1:1/none")
    assert err.count("\n") == 1
