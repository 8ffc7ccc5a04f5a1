"""Workspace settings through campaign's RPCs and `herald settings`, on SQLite and PostgreSQL:
applied like a campaign file, kept across a restart, handed to delivery with each Confirm."""

from __future__ import annotations

import json

import grpc
import pytest
from herald.campaign.v1 import campaign_pb2
from herald_common.clients import CampaignClient
from herald_common.testing import AuthorizedStub, suite_caller

from tests.integration.campaign.conftest import EXAMPLES
from tests.integration.campaign.test_cli_campaigns import herald  # noqa: F401 - the CLI fixture
from tests.integration.conftest import WORKSPACE, free_port

pytestmark = pytest.mark.asyncio

SETTINGS = """\
frequency_caps:
  - { channel: any, max: 3, per: 1d }
  - { channel: sms, max: 1, per: calendar_day }
quiet_hours: { start: "21:00", end: "08:00" }
global_control: 5%
"""


async def _apply(suite, text: str) -> campaign_pb2.WorkspaceSettings:
    return await suite.stub.ApplySettings(
        campaign_pb2.ApplySettingsRequest(workspace_id=WORKSPACE, source_yaml=text, file_name="settings.yaml"))


async def _get(suite) -> campaign_pb2.WorkspaceSettings:
    return await suite.stub.GetSettings(campaign_pb2.GetSettingsRequest(workspace_id=WORKSPACE))


async def test_settings_are_none_until_applied_then_what_was_applied(suite):
    empty = await _get(suite)
    assert not empty.HasField("updated_at") and list(empty.frequency_caps) == [] and not empty.HasField("quiet_hours")
    applied = await _apply(suite, SETTINGS)
    assert applied.changed
    shown = await _get(suite)
    assert [(c.channel, c.max, c.per, c.per_seconds, c.calendar_day) for c in shown.frequency_caps] == [
        ("any", 3, "1d", 86400, False), ("sms", 1, "calendar_day", 0, True),
    ]
    assert (shown.quiet_hours.start, shown.quiet_hours.end) == ("21:00", "08:00")
    assert shown.global_control == pytest.approx(0.05) and shown.global_control_text == "5%"
    assert shown.source_yaml == SETTINGS and shown.file_name == "settings.yaml" and shown.HasField("updated_at")
    again = await _apply(suite, SETTINGS)
    assert not again.changed and again.updated_at == shown.updated_at


async def test_a_bad_settings_file_is_refused_whole_and_the_old_settings_stay(suite):
    await _apply(suite, SETTINGS)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _apply(suite, "frequency_caps: [{channel: fax, max: 1, per: 1d}]\nglobal_control: 80%\n")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "frequency_caps[0].channel: unknown channel 'fax'" in refused.value.details()
    assert "global_control:" in refused.value.details()
    assert (await _get(suite)).source_yaml == SETTINGS


async def test_settings_are_kept_in_the_database_for_a_new_campaign_process(suite):
    from herald_services.campaign.main import build

    await _apply(suite, SETTINGS)
    address = f"127.0.0.1:{free_port()}"
    fresh = await build(suite.settings.model_copy(update={"campaign_address": address}))
    await fresh.start()
    client = CampaignClient(address, 10, caller=suite_caller(suite.settings))
    try:
        shown = await AuthorizedStub(client).GetSettings(campaign_pb2.GetSettingsRequest(workspace_id=WORKSPACE))
    finally:
        await client.close()
        await fresh.stop()
    assert [c.per for c in shown.frequency_caps] == ["1d", "calendar_day"] and shown.source_yaml == SETTINGS


async def test_confirm_hands_the_settings_and_the_campaigns_exemption_to_delivery(suite):
    await _apply(suite, SETTINGS)
    receipt = (EXAMPLES / "welcome-push.yaml").read_text().replace("name: Welcome push", "name: Receipt push")
    await suite.apply(receipt + "\ntransactional: true\n")
    await suite.apply_example("welcome-push.yaml")
    profile = await suite.identify("u-policy", first_name="Ada", device={"type": "ios", "token": "b" * 64})
    await suite.send_events(suite.event(profile, "u-policy", "[Segment] Signed Up", plan="pro"))
    await suite.delivery.wait(lambda: len(suite.delivery.scheduled) == 2)
    answers = (await suite.stub.ConfirmBatch(campaign_pb2.ConfirmBatchRequest(send_ids=list(suite.delivery.scheduled)))).results
    by_campaign = {}
    for result in answers:
        by_campaign[suite.delivery.scheduled[result.send_id].campaign_id] = result.answer
    policies = [answer.policy for answer in by_campaign.values()]
    assert all(answer.go for answer in by_campaign.values())
    assert sorted(p.transactional for p in policies) == [False, True]
    for policy in policies:
        assert [c.per for c in policy.frequency_caps] == ["1d", "calendar_day"] and policy.on_cap == "suppress"
        assert policy.quiet_hours.start == "21:00"


async def test_herald_settings_apply_and_show(suite, herald, tmp_path):  # noqa: F811
    path = tmp_path / "settings.yaml"
    path.write_text(SETTINGS)
    code, out, err = await herald("settings", "show")
    assert code == 0 and "no settings yet" in out
    code, out, err = await herald("settings", "apply", "-f", str(path), "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["changed"] is True
    code, out, err = await herald("settings", "show", "--json")
    document = json.loads(out)
    assert document["frequency_caps"] == [{"channel": "any", "max": 3, "per": "1d"},
                                          {"channel": "sms", "max": 1, "per": "calendar_day"}]
    assert document["quiet_hours"] == {"start": "21:00", "end": "08:00", "fallback_timezone": None}
    assert document["global_control"] == "5%" and document["source_yaml"] == SETTINGS
    code, out, err = await herald("settings", "show")
    assert "any max 3 per 1d; sms max 1 per calendar_day" in out and "21:00-08:00" in out
    path.write_text("quiet_hours: {start: '9pm', end: '08:00'}\n")
    code, out, err = await herald("settings", "apply", "-f", str(path))
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "quiet_hours.start" in err and str(path) in err
