"""The Settings page against the four real services: the workspace's caps, quiet hours and global
control as applied, the file edited and applied as `herald settings apply` does (errors inline by
path, what was typed kept, nothing saved), and the same file given back by GetSettings."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from herald.campaign.v1 import campaign_pb2
from herald_common.testing import AuthorizedStub
from markupsafe import escape

from tests.integration.console.conftest import WORKSPACE

GOOD = """frequency_caps:
  - {channel: any, max: 2, per: 1d}
  - {channel: sms, max: 1, per: calendar_day}
quiet_hours: {start: "21:00", end: "08:00", fallback_timezone: Europe/Berlin}
global_control: 5%
"""
BAD = GOOD.replace("max: 2", "max: 0").replace("5%", "60%")


async def settings_of(console) -> campaign_pb2.WorkspaceSettings:
    return await AuthorizedStub(console.backend.campaign).GetSettings(campaign_pb2.GetSettingsRequest(workspace_id=WORKSPACE))


async def test_settings_are_shown_edited_with_errors_by_path_and_applied(signed_in):
    first = await signed_in.client.get("/settings")
    assert first.status_code == 200
    assert "No frequency caps" in first.text and "Applied</dt><dd class=\"small\">never" in first.text
    assert "# Workspace settings" in first.text  # a starting file to edit
    assert '<a href="/settings" aria-current="page">Settings</a>' in first.text

    refused = await signed_in.post("/settings", {"source_yaml": BAD})
    assert refused.status_code == 400
    assert "Nothing was saved" in refused.text and str(escape(BAD)) in refused.text
    errors = re.findall(r'<code class="path">([^<]+)</code>: ([^<]+)</li>', refused.text)
    paths = dict(errors)
    assert "frequency_caps[0].max" in paths and "global_control" in paths, errors
    assert '<span class="line">line 2</span> <code class="path">frequency_caps[0].max' in refused.text
    assert (await settings_of(signed_in)).HasField("updated_at") is False

    saved = await signed_in.post("/settings", {"source_yaml": GOOD.replace("\n", "\r\n")})
    assert saved.status_code == 303
    assert unquote_plus(saved.headers["location"]) == (
        "/settings?changed=saved: 2 frequency cap(s), quiet hours 21:00-08:00, global control 5%")
    applied = await settings_of(signed_in)
    assert applied.source_yaml == GOOD and applied.file_name == "console"  # herald settings show gives this back
    page = (await signed_in.client.get(saved.headers["location"])).text
    assert "Settings saved: 2 frequency cap(s)" in page
    rows = re.findall(r'<tr><th scope="row">(\w+)</th><td class="num">(\d+)</td><td>([^<]+)</td></tr>', page)
    assert rows == [("any", "2", "rolling 1d"), ("sms", "1", "calendar day (the user’s zone)")]
    assert "21:00–08:00" in page and "else Europe/Berlin" in page and "<dd>5%</dd>" in page

    again = await signed_in.post("/settings", {"source_yaml": GOOD})
    assert "unchanged" in again.headers["location"]
    no_csrf = await signed_in.client.post("/settings", data={"source_yaml": GOOD})
    assert no_csrf.status_code == 403
