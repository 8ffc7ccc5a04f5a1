"""The console's pure rules: where sign-in may lead, event definition forms, Yes/No of the catalogue."""

from __future__ import annotations

from herald.ingest.v1 import ingest_pb2

from herald_services.console.auth import safe_next, session_secret
from herald_services.console.pages.events import event_row, validate_definition
from herald_services.console.web import link


def test_sign_in_leads_only_to_a_path_of_the_console():
    assert safe_next("/users/u1?workspace=b") == "/users/u1?workspace=b"
    for outside in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "", None, "events"):
        assert safe_next(outside) == "/events"


def test_the_session_key_changes_with_the_admin_token():
    assert session_secret("a") == session_secret("a")
    assert session_secret("a") != session_secret("b")


def test_links_keep_a_workspace_other_than_the_default():
    assert link("/events", "default", hidden="1") == "/events?hidden=1"
    assert link("/events", "shop", hidden="1") == "/events?workspace=shop&hidden=1"
    assert link("/sends", "default", status="", after=None) == "/sends"


def test_a_definition_needs_a_name_without_the_segment_prefix_or_control_characters():
    ok = {"kind": "track", "name": "Signed Up", "description": ""}
    assert validate_definition(ok) == {}
    assert "name" in validate_definition({**ok, "name": "  "})
    assert "name" in validate_definition({**ok, "name": "[Segment] Signed Up"})
    assert "name" in validate_definition({**ok, "name": "a\tb"})
    assert "name" in validate_definition({**ok, "name": "x" * 500})
    assert validate_definition({**ok, "kind": "identify"}) == {"kind": "must be one of track, page, screen"}


def test_seen_in_the_last_24_hours_is_the_catalogues_yes_no_with_its_count():
    seen = event_row(ingest_pb2.EventDefinition(name="[Segment] A", seen_in_last_24h=True, times_seen_last_24h=3))
    unseen = event_row(ingest_pb2.EventDefinition(name="[Segment] B", seen_in_last_24h=False))
    assert (seen.seen_last_24h, seen.times_seen_last_24h) == (True, 3)
    assert (unseen.seen_last_24h, unseen.times_seen_last_24h) == (False, 0)

