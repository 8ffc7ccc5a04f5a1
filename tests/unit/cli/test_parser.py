"""The command line: what each command accepts, and usage mistakes as one line."""

from __future__ import annotations

import pytest
from herald_cli.main import build_parser, main


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_users_show_takes_an_id_and_defaults_to_the_default_workspace():
    args = parse("users", "show", "u1")
    assert (args.id, args.workspace, args.json, args.timeout) == ("u1", "default", False, None)


def test_read_commands_take_json_workspace_and_timeout():
    args = parse("users", "events", "anon-7", "--json", "--workspace", "acme", "--timeout", "2.5", "--limit", "5")
    assert (args.id, args.json, args.workspace, args.timeout, args.limit) == ("anon-7", True, "acme", 2.5, 5)


def test_explain_takes_a_user_and_optional_campaign_event_and_limit():
    args = parse("explain", "anon-7")
    assert (args.user, args.campaign, args.event, args.limit, args.json) == ("anon-7", "", "", 20, False)
    args = parse("explain", "u1", "--campaign", "Coupon Campaign - Europe", "--event", "4711", "--limit", "3", "--json")
    assert (args.user, args.campaign, args.event, args.limit, args.json) == (
        "u1", "Coupon Campaign - Europe", "4711", 3, True)


def test_events_list_includes_hidden_only_when_asked():
    assert parse("events", "list").hidden is False
    assert parse("events", "list", "--hidden").hidden is True


@pytest.mark.parametrize(("verb", "hidden"), [("hide", True), ("unhide", False)])
def test_hide_and_unhide_carry_the_direction_as_a_flag(verb, hidden):
    args = parse("events", verb, "[Segment] Signed Up", "--json")
    assert (args.name, args.hidden, args.json) == ("[Segment] Signed Up", hidden, True)


def test_events_define_takes_an_optional_description():
    args = parse("events", "define", "[Segment] Trial Ended", "--description", "the trial ran out")
    assert (args.name, args.description) == ("[Segment] Trial Ended", "the trial ran out")


def test_up_maps_its_flags_to_settings():
    args = parse("up", "--data-dir", "/tmp/h", "--gateway-port", "9090", "--ready-timeout", "5")
    assert (args.data_dir, args.gateway_port, args.ready_timeout) == ("/tmp/h", 9090, 5.0)


def test_up_without_flags_leaves_the_environment_in_charge():
    args = parse("up")
    assert (args.data_dir, args.gateway_port) == (None, None)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["users", "show"], "herald: the following arguments are required: ID (see `herald users show --help`)"),
        (["up", "--gateway-port", "70000"], "herald: argument --gateway-port: 70000 is not between 1 and 65535"),
        (["events", "list", "--timeout", "0"], "herald: argument --timeout: must be more than 0"),
        (["explain", "u1", "--limit", "0"], "herald: argument --limit: must be at least 1"),
        (["explain"], "herald: the following arguments are required: USER"),
        (["frobnicate"], "herald: argument COMMAND: invalid choice: 'frobnicate'"),
        ([], "herald: the following arguments are required: COMMAND"),
    ],
)
def test_a_usage_mistake_is_one_line_on_stderr_and_exit_2(capsys, argv, expected):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    assert exited.value.code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(expected)
