"""Failures as one line: why, and what to do about it."""

from __future__ import annotations

import socket

import grpc
import pytest
from herald_cli.errors import describe_rpc_error, describe_settings_error
from herald_cli.main import main
from herald_common.settings import Settings
from pydantic import ValidationError


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


def describe(code: grpc.StatusCode, details: str) -> str:
    return describe_rpc_error(rpc_error(code, details), service="ingest", address="127.0.0.1:7102", timeout=10)


def test_a_refused_connection_says_which_service_is_unreachable_and_suggests_herald_up():
    line = describe(
        grpc.StatusCode.UNAVAILABLE,
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7102: Connection refused",
    )
    assert line == "cannot reach ingest at 127.0.0.1:7102 (is `herald up` running?)"


def test_a_service_that_answers_unavailable_itself_keeps_its_reason():
    assert describe(grpc.StatusCode.UNAVAILABLE, "campaign is draining") == "ingest is unavailable: campaign is draining"


def test_not_found_and_bad_input_pass_the_services_own_words_through():
    assert describe(grpc.StatusCode.NOT_FOUND, "no user 'u9' in workspace 'default'") == "no user 'u9' in workspace 'default'"
    assert describe(grpc.StatusCode.INVALID_ARGUMENT, "id: is required") == "id: is required"


def test_a_deadline_says_how_long_the_cli_waited():
    assert describe(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") == (
        "ingest at 127.0.0.1:7102 did not answer within 10s"
    )


def test_an_internal_error_names_the_service_and_the_code():
    assert describe(grpc.StatusCode.INTERNAL, "internal error (request_id=abc)") == (
        "ingest failed (INTERNAL): internal error (request_id=abc)"
    )


def test_a_placeholder_write_key_is_reported_by_its_variable():
    with pytest.raises(ValidationError) as caught:
        Settings(write_key="changeme")
    assert describe_settings_error(caught.value) == "invalid settings: HERALD_WRITE_KEY is a placeholder; set a real value"


def test_a_badly_typed_variable_is_named():
    with pytest.raises(ValidationError) as caught:
        Settings(gateway_port="eighty")
    assert describe_settings_error(caught.value).startswith("invalid settings: HERALD_GATEWAY_PORT: ")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_main_reports_an_unreachable_service_as_one_line_and_prints_nothing_on_stdout(capsys, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("HERALD_IDENTITY_ADDRESS", f"127.0.0.1:{port}")
    assert main(["users", "show", "u1", "--json"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"herald: cannot reach identity at 127.0.0.1:{port} (is `herald up` running?)\n"


def test_main_reports_bad_settings_as_one_line(capsys, monkeypatch):
    monkeypatch.setenv("HERALD_RPC_TIMEOUT_SECONDS", "-1")
    assert main(["events", "list"]) == 1
    _, err = capsys.readouterr()
    assert err.startswith("herald: invalid settings: HERALD_RPC_TIMEOUT_SECONDS: ")
    assert err.count("\n") == 1
