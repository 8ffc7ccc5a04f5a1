"""What `herald up` decides before it starts anything: write key, components, ports, environment."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
from herald_cli import suite
from herald_cli.commands.up import announcement
from herald_cli.errors import CliError
from herald_cli.supervisor import Backoff, describe_exit
from herald_common.settings import Settings


def test_the_environments_write_key_wins_and_nothing_is_written(tmp_path):
    assert suite.resolve_write_key("wk_from_env", tmp_path) == ("wk_from_env", "HERALD_WRITE_KEY")
    assert not (tmp_path / "write_key").exists()


def test_a_generated_write_key_is_kept_private_in_the_data_dir_and_reused(tmp_path):
    data_dir = tmp_path / "var"
    key, source = suite.resolve_write_key(None, data_dir)
    path = data_dir / "write_key"
    assert len(key) >= 32
    assert source == f"generated, kept in {path}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert suite.resolve_write_key(None, data_dir) == (key, str(path))


def test_a_write_key_file_written_by_hand_is_used(tmp_path):
    (tmp_path / "write_key").write_text("wk_handmade\n")
    assert suite.resolve_write_key(None, tmp_path) == ("wk_handmade", str(tmp_path / "write_key"))


def test_components_are_the_built_services_then_the_gateway(monkeypatch):
    monkeypatch.setattr(suite, "is_built", lambda name: name in {"identity", "ingest", "gateway"})
    settings = Settings(identity_address="127.0.0.1:9101", ingest_address="127.0.0.1:9102", gateway_port=9080)
    parts = suite.components(settings)
    assert [(p.name, p.address, p.tier) for p in parts] == [
        ("identity", "127.0.0.1:9101", 0),
        ("ingest", "127.0.0.1:9102", 0),
        ("gateway", "127.0.0.1:9080", 1),
    ]
    assert parts[0].argv[1:] == ("-m", "herald_services.identity.main")
    assert parts[2].url == "http://127.0.0.1:9080"


def test_a_service_is_built_when_its_main_module_exists():
    assert suite.is_built("identity")
    assert not suite.is_built("no_such_service")


def test_a_port_in_use_is_refused_with_the_variable_that_moves_it():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(CliError) as caught:
            suite.check_free(suite.Component("identity", f"127.0.0.1:{port}", 0))
    assert "port is in use" in caught.value.message
    assert "HERALD_IDENTITY_ADDRESS" in caught.value.message


def test_children_get_the_decided_data_dir_port_and_write_key(tmp_path):
    settings = Settings(data_dir=tmp_path, gateway_port=9080)
    env = suite.child_environment(settings, "wk_1", base={"PATH": "/usr/bin", "HERALD_LOG_LEVEL": "debug"})
    assert env["HERALD_DATA_DIR"] == str(tmp_path)
    assert env["HERALD_GATEWAY_PORT"] == "9080"
    assert env["HERALD_WRITE_KEY"] == "wk_1"
    assert (env["PATH"], env["HERALD_LOG_LEVEL"]) == ("/usr/bin", "debug")


def test_the_announcement_lists_the_write_key_the_gateway_url_and_each_service():
    settings = Settings(data_dir=Path("/srv/herald"), database_url="postgresql://herald:s3cret@db:5432/herald")
    parts = [suite.Component("identity", "127.0.0.1:7101", 0), suite.Component("gateway", "127.0.0.1:8080", 1)]
    lines = announcement(settings, parts, "wk_1").splitlines()
    assert lines[0] == "herald is up"
    assert lines[1:7] == [
        "  write key       wk_1",
        "  webhook secret  /srv/herald/webhook_secret",
        "  gateway         http://127.0.0.1:8080",
        "  identity        127.0.0.1:7101",
        "  database        postgresql://herald:***@db:5432/herald",
        "  data            /srv/herald",
    ]
    assert "Ctrl-C" in lines[-1]


def test_the_announcement_gives_the_console_url_and_where_the_admin_token_is():
    settings = Settings(data_dir=Path("/srv/herald"))
    parts = [
        suite.Component("identity", "127.0.0.1:7101", 0),
        suite.Component("console", "127.0.0.1:8090", 1),
        suite.Component("gateway", "127.0.0.1:8080", 1),
    ]
    lines = announcement(settings, parts, "wk_1", "kept in /srv/herald/admin_token").splitlines()
    assert lines[1:7] == [
        "  write key       wk_1",
        "  admin token     kept in /srv/herald/admin_token",
        "  webhook secret  /srv/herald/webhook_secret",
        "  gateway         http://127.0.0.1:8080",
        "  console         http://127.0.0.1:8090",
        "  identity        127.0.0.1:7101",
    ]
    assert "sign in with the admin token" in "\n".join(lines)


def test_the_console_runs_once_whatever_the_replicas(tmp_path):
    settings = Settings(data_dir=tmp_path)
    parts = [suite.Component("identity", "127.0.0.1:7101", 0), suite.Component("console", "127.0.0.1:8090", 1)]
    replicated, _ = suite.with_replicas(settings, parts, 2)
    assert [part.name for part in replicated].count("console") == 1
    assert [part.name for part in replicated].count("identity") == 2


def test_the_announcement_says_the_webhook_secret_comes_from_the_variable_when_set():
    settings = Settings(data_dir=Path("/srv/herald"), webhook_secret="whsec_" + "A" * 32)
    lines = announcement(settings, [suite.Component("delivery", "127.0.0.1:7104", 0)], "wk_1").splitlines()
    assert "  webhook secret  HERALD_WEBHOOK_SECRET" in lines
    assert not any("whsec_" in line for line in lines)


def test_backoff_doubles_from_half_a_second_up_to_thirty():
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_an_exit_by_signal_is_named():
    assert describe_exit(-9) == "code -9 (SIGKILL)"
    assert describe_exit(3) == "code 3"
