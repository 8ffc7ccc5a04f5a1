"""`herald up` as a user runs it: announcement, supervision, clean stops, durable data."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import grpc
import httpx
import orjson
import pytest
from herald.identity.v1 import identity_pb2, identity_pb2_grpc

from tests.conftest import POSTGRES_URL, drop_schemas, require_postgres
from tests.e2e.harness import herald_command, is_gone

pytestmark = pytest.mark.e2e


def identify(suite, user_id: str, traits: dict) -> None:
    """An identify call the way a user's app sends it: through the gateway, else straight to identity."""
    if suite.gateway_url:
        response = httpx.post(
            f"{suite.gateway_url}/v1/identify",
            auth=(suite.write_key, ""),
            json={"userId": user_id, "traits": traits},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return
    with grpc.insecure_channel(suite.services["identity"]) as channel:
        call = identity_pb2.IdentifyCall(message_id=f"m-{user_id}", user_id=user_id, traits_json=orjson.dumps(traits))
        identity_pb2_grpc.IdentityServiceStub(channel).Identify(
            identity_pb2.IdentifyRequest(workspace_id="default", calls=[call]), timeout=10,
            metadata=(("authorization", f"Bearer {suite.internal_token}"),),  # as the gateway calls it
        )


def track(suite, user_id: str, event: str, message_id: str) -> None:
    response = httpx.post(
        f"{suite.gateway_url}/v1/track",
        auth=(suite.write_key, ""),
        json={"userId": user_id, "event": event, "messageId": message_id, "properties": {"plan": "pro"}},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_herald_up_announces_the_write_key_and_the_address_of_everything_it_started(suite):
    env = suite.env
    assert suite.write_key == (suite.data_dir / "write_key").read_text().strip()
    kept_secret = suite.data_dir / "webhook_secret"
    assert suite.announced["webhook secret"] == str(kept_secret)
    assert kept_secret.read_text().startswith("whsec_") and kept_secret.stat().st_mode & 0o777 == 0o600
    assert suite.services["identity"] == env["HERALD_IDENTITY_ADDRESS"]
    assert set(suite.services) == set(suite.children()) - {"gateway", "console"}
    if "gateway" in suite.children():
        assert suite.gateway_url == f"http://127.0.0.1:{env['HERALD_GATEWAY_PORT']}"
        assert httpx.get(f"{suite.gateway_url}/health", timeout=5).status_code == 200
    if "console" in suite.children():
        assert suite.console_url == f"http://127.0.0.1:{env['HERALD_CONSOLE_PORT']}"
        assert httpx.get(f"{suite.console_url}/health", timeout=5).status_code == 200
        assert suite.announced["admin token"] == f"kept in {suite.data_dir / 'admin_token'}"
        assert (suite.data_dir / "admin_token").stat().st_mode & 0o777 == 0o600
    answer = suite.herald("users", "show", "nobody-yet")
    assert (answer.returncode, answer.stderr) == (1, "herald: no user 'nobody-yet' in workspace 'default'\n")


def test_the_default_workspace_answers_to_the_write_key(suite):
    identify(suite, "ws-user", {"email": "ws@example.com"})
    assert suite.herald_json("users", "show", "ws-user")["attributes"] == {"email": "ws@example.com"}


def test_a_service_killed_with_sigkill_is_restarted_and_sigterm_then_stops_everything(launch_suite):
    with launch_suite() as suite:
        identify(suite, "u-kill", {"plan": "Pro"})
        old_pid = suite.children()["identity"]
        os.kill(old_pid, signal.SIGKILL)
        suite.wait_for_stderr("herald: identity exited with code -9 (SIGKILL); restarting in 0.5s")
        suite.wait_for_stderr("herald: identity is back")
        children = suite.children()
        assert children["identity"] != old_pid
        assert suite.herald_json("users", "show", "u-kill")["attributes"] == {"plan": "Pro"}

        assert suite.stop(signal.SIGTERM) == 0
        assert all(is_gone(pid) for pid in children.values())
        assert suite.stderr().rstrip().endswith("herald: stopped")


def test_herald_up_without_a_service_leaves_it_out_and_says_where_the_others_expect_it(launch_suite):
    with launch_suite(HERALD_UP_WITHOUT="ingest") as suite:
        assert "ingest" not in suite.children()
        assert "identity" in suite.children()
        assert "herald: not starting ingest (--without)" in suite.stderr()


def test_services_stop_by_themselves_when_herald_up_is_killed_with_sigkill(launch_suite):
    with launch_suite() as suite:
        children = suite.children()
        assert children
        suite.process.kill()
        suite.process.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(is_gone(pid) for pid in children.values()):
            time.sleep(0.1)
        assert {name: pid for name, pid in children.items() if not is_gone(pid)} == {}


def test_ctrl_c_stops_every_child_and_the_data_survives_a_restart_of_the_whole_suite(launch_suite, tmp_path):
    data_dir = tmp_path / "kept"
    with launch_suite(data_dir=data_dir) as first:
        identify(first, "u-durable", {"email": "durable@example.com"})
        if first.gateway_url and "ingest" in first.services:
            track(first, "u-durable", "Signed Up", "m-durable-1")
        children = first.children()
        assert first.stop(signal.SIGINT) == 0
        assert all(is_gone(pid) for pid in children.values())
        assert "restarting" not in first.stderr()
    with launch_suite(data_dir=data_dir) as second:
        assert second.write_key == first.write_key
        assert second.herald_json("users", "show", "u-durable")["attributes"] == {"email": "durable@example.com"}
        if second.gateway_url and "ingest" in second.services:
            events = second.herald_json("events", "list")
            assert [(e["name"], e["times_seen"]) for e in events] == [("[Segment] Signed Up", 1)]


def test_a_second_herald_up_on_the_same_ports_refuses_to_start(suite):
    second = subprocess.run(
        [*herald_command(), "up"], env=suite.env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert second.returncode == 1
    assert "port is in use" in second.stderr
    assert second.stderr.count("\n") == 1


@pytest.mark.postgres
def test_with_a_database_url_the_suite_keeps_its_data_in_postgresql(launch_suite, tmp_path):
    require_postgres()
    prefix = f"e{uuid.uuid4().hex[:10]}_"
    try:
        with launch_suite(HERALD_DATABASE_URL=POSTGRES_URL, HERALD_DATABASE_SCHEMA_PREFIX=prefix) as suite:
            assert suite.announced["database"].startswith("postgresql")
            identify(suite, "u-pg", {"email": "pg@example.com"})
            assert suite.herald_json("users", "show", "u-pg")["attributes"] == {"email": "pg@example.com"}
        assert not list(suite.data_dir.glob("*.db")), "nothing should be kept in SQLite files"
    finally:
        drop_schemas(prefix)
