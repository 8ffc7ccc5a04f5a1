"""Two workspaces on one suite (the four services and the gateway, in-process over SQLite): every
call scoped to workspace A, and A's write key, reads and changes A's data only. Ids that belong
to B, used with A's workspace id, are NOT_FOUND; A's listings never show B's rows; B's events
trigger only B's campaigns, and each send is written with its own workspace's user."""

from __future__ import annotations

import asyncio
import time

import grpc
import httpx
import orjson
import pytest
from herald.campaign.v1 import campaign_pb2
from herald.delivery.v1 import delivery_pb2
from herald.identity.v1 import identity_pb2
from herald.ingest.v1 import ingest_pb2
from herald_common.clients import CampaignClient, DeliveryClient, IdentityClient, IngestClient
from herald_common.testing import AuthorizedStub, suite_caller

from herald_services.gateway.main import build as build_gateway
from tests.integration.console.conftest import start_services

A, B = "ws-a", "ws-b"
KEYS = {A: "wk_sealed_a", B: "wk_sealed_b"}
WELCOME = """name: Welcome
trigger:
  event: "[Segment] Signed Up"
message:
  channel: email
  subject: "Welcome, {{ first_name }}"
  body: "Hello {{ email }}"
"""
ONLY_IN_B = WELCOME.replace("name: Welcome", "name: Only in B").replace("Welcome,", "From B,")
B_SETTINGS = "frequency_caps:\n  - { channel: email, max: 5, per: 1d }\n"


class Sealed:
    def __init__(self, settings, gateway_url: str) -> None:
        caller = suite_caller(settings)
        self.settings = settings
        self.identity = IdentityClient(settings.identity_address, 10, caller=caller)
        self.ingest = IngestClient(settings.ingest_address, 10, caller=caller)
        self.campaign = CampaignClient(settings.campaign_address, 10, caller=caller)
        self.delivery = DeliveryClient(settings.delivery_address, 10, caller=caller)
        self.campaigns = AuthorizedStub(self.campaign)
        self.gateway_url = gateway_url

    async def segment(self, workspace: str, kind: str, **body) -> None:
        async with httpx.AsyncClient(base_url=self.gateway_url, timeout=10) as http:
            answer = await http.post(f"/v1/{kind}", auth=(KEYS[workspace], ""), json=body)
        assert answer.status_code == 200 and not answer.json().get("rejected"), answer.text

    async def sends(self, workspace: str, **kwargs) -> list[campaign_pb2.SendSummary]:
        listed = await self.campaigns.ListSends(campaign_pb2.ListSendsRequest(workspace_id=workspace, **kwargs))
        return list(listed.sends)

    async def close(self) -> None:
        for client in (self.identity, self.ingest, self.campaign, self.delivery):
            await client.close()


@pytest.fixture
async def sealed(sqlite_settings):
    wired, running = await start_services(sqlite_settings.model_copy(update={"settle_seconds": 0}))
    gateway = await build_gateway(wired.model_copy(update={"write_key": None}), host="127.0.0.1", port=0)
    await gateway.start()
    suite = Sealed(wired, gateway.url)
    for workspace in (A, B):
        await suite.identity.ensure_workspace(workspace_id=workspace, name=workspace, write_key=KEYS[workspace])
    yield suite
    await suite.close()
    await gateway.stop()
    for service in reversed(list(running.values())):
        await service.stop()


async def not_found(pending) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await pending
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND, refused.value.details()
    return refused.value.details()


async def wait_until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_a_workspace_never_reads_or_changes_another_workspaces_data(sealed):
    s = sealed
    # The same user id in both workspaces, with different traits; B has a user and an event A lacks.
    await s.segment(A, "identify", userId="u1", traits={"email": "ann@a.example", "first_name": "Ann"})
    await s.segment(B, "identify", userId="u1", traits={"email": "bob@b.example", "first_name": "Bob"},
                    context={"device": {"type": "ios", "token": "b-device-token"}})
    await s.segment(B, "identify", userId="only-b", traits={"email": "only@b.example"})
    for workspace, files in ((A, [WELCOME]), (B, [WELCOME, ONLY_IN_B])):
        for text in files:
            await s.campaigns.ApplyCampaign(campaign_pb2.ApplyCampaignRequest(workspace_id=workspace, source_yaml=text))
    await s.campaigns.ApplySettings(campaign_pb2.ApplySettingsRequest(workspace_id=B, source_yaml=B_SETTINGS))
    await s.segment(A, "track", userId="u1", event="Signed Up", messageId="a-1")
    await s.segment(B, "track", userId="u1", event="Signed Up", messageId="b-1")
    await s.segment(B, "track", userId="only-b", event="Seen only in B", messageId="b-2")

    async def all_sent() -> bool:
        sends = [*await s.sends(A), *await s.sends(B)]
        return len(sends) == 3 and all(send.status == "sent" for send in sends)

    await wait_until(all_sent)
    a_user, b_user = await s.identity.get_user(A, "u1"), await s.identity.get_user(B, "u1")
    b_only = await s.identity.get_user(B, "only-b")

    # campaigns: B's campaign is invisible from A, and B's trigger did not count in A
    listed = await s.campaigns.ListCampaigns(campaign_pb2.ListCampaignsRequest(workspace_id=A))
    assert [c.name for c in listed.campaigns] == ["Welcome"]
    await not_found(s.campaigns.GetCampaign(campaign_pb2.GetCampaignRequest(workspace_id=A, name="Only in B")))
    for verb in ("PauseCampaign", "ResumeCampaign", "ArchiveCampaign"):
        request = campaign_pb2.SetCampaignStatusRequest(workspace_id=A, name="Only in B")
        await not_found(getattr(s.campaigns, verb)(request))
    await not_found(s.campaigns.GetCampaignStats(campaign_pb2.GetCampaignStatsRequest(workspace_id=A, name="Only in B")))
    stats = await s.campaigns.GetCampaignStats(campaign_pb2.GetCampaignStatsRequest(workspace_id=A, name="Welcome"))
    assert (stats.triggered, stats.sent) == (1, 1)
    b_stats = await s.campaigns.GetCampaignStats(campaign_pb2.GetCampaignStatsRequest(workspace_id=B, name="Welcome"))
    assert (b_stats.triggered, b_stats.sent) == (1, 1)
    paused = await s.campaigns.PauseCampaign(campaign_pb2.SetCampaignStatusRequest(workspace_id=A, name="Welcome"))
    assert paused.status == "paused"  # A's campaign of that name, not B's
    b_welcome = await s.campaigns.GetCampaign(campaign_pb2.GetCampaignRequest(workspace_id=B, name="Welcome"))
    assert b_welcome.status == "live" and b_welcome.id != paused.id
    shown = await s.campaigns.GetSettings(campaign_pb2.GetSettingsRequest(workspace_id=A))
    assert (list(shown.frequency_caps), shown.source_yaml) == ([], "")

    # sends: each listed in its own workspace only, and written with that workspace's user
    a_sends, b_sends = await s.sends(A), await s.sends(B)
    assert [(x.campaign, x.user_id) for x in a_sends] == [("Welcome", "u1")]
    assert sorted(x.campaign for x in b_sends) == ["Only in B", "Welcome"]
    assert await s.sends(A, campaign="Welcome") == a_sends
    await not_found(s.sends(A, campaign="Only in B"))
    await not_found(s.sends(A, user_id="only-b"))
    outbox = [orjson.loads(line) for line in (s.settings.data_dir / "outbox.jsonl").read_text().splitlines()]
    written = {line["send_id"]: (line["address"]["value"], line["subject"]) for line in outbox}
    assert written[a_sends[0].id] == ("ann@a.example", "Welcome, Ann")
    assert {written[x.id] for x in b_sends} == {("bob@b.example", "Welcome, Bob"), ("bob@b.example", "From B, Bob")}
    in_delivery = await s.delivery.list_sends(workspace_id=A)
    assert [x.id for x in in_delivery.sends] == [a_sends[0].id]
    await not_found(s.delivery.get_send(b_sends[0].id, workspace_id=A))
    assert (await s.delivery.get_send(a_sends[0].id, workspace_id=A)).workspace_id == A

    # users: B's users and profiles are unknown in A
    assert orjson.loads(a_user.attributes_json)["email"] == "ann@a.example" and not a_user.devices
    assert a_user.profile_id != b_user.profile_id
    await not_found(s.identity.get_user(A, "only-b"))
    by_profile = identity_pb2.GetUserRequest(workspace_id=A, profile_id=b_only.profile_id)
    await not_found(s.identity.stub.GetUser(by_profile, metadata=s.identity.metadata("GetUser")))
    assert [e.name for e in (await s.ingest.list_user_events(A, "u1")).events] == ["[Segment] Signed Up"]
    await not_found(s.ingest.list_user_events(A, "only-b"))

    # the console's lookups: search, a user's subscriptions, an event's latest occurrences
    assert [m.user.user_id for m in await s.identity.search_users(A, "only")] == []
    assert [m.email for m in await s.identity.search_users(A, "u1")] == ["ann@a.example"]
    await not_found(s.campaign.get_subscriptions(A, "only-b"))
    assert list((await s.ingest.list_events_by_name(A, "[Segment] Seen only in B")).events) == []
    assert [e.user_id for e in (await s.ingest.list_events_by_name(A, "[Segment] Signed Up")).events] == ["u1"]
    assert len((await s.ingest.list_events_by_name(B, "[Segment] Signed Up")).events) == 1

    # herald explain: A's Explain reads A's decision steps only
    await not_found(s.campaign.explain(A, "only-b"))
    assert [e.campaign for e in (await s.campaign.explain(A, "u1")).entries] == ["Welcome"]
    assert list((await s.delivery.explain(A, [b_user.profile_id, b_only.profile_id])).steps) == []
    assert (await s.delivery.explain(B, [b_user.profile_id])).steps

    # events: B's catalogue is invisible from A; defining in A leaves B alone
    assert "[Segment] Seen only in B" not in {e.name for e in (await s.ingest.list_events(A, True)).events}
    await not_found(s.ingest.get_event_definition(A, "[Segment] Seen only in B"))
    await not_found(s.ingest.hide_event(A, "[Segment] Seen only in B"))
    await s.ingest.define_event(A, "[Segment] Defined in A")
    assert "[Segment] Defined in A" not in {e.name for e in (await s.ingest.list_events(B, True)).events}
    assert not (await s.ingest.get_event_definition(B, "[Segment] Seen only in B")).hidden

    # changes asked in A never reach B
    await not_found(s.campaigns.Unsubscribe(campaign_pb2.UnsubscribeRequest(workspace_id=A, id="only-b")))
    assert await s.identity.remove_device(A, "apns", "b-device-token") is False
    assert await s.ingest.purge_user_events(A, [b_user.profile_id, b_only.profile_id]) == 0
    await not_found(s.identity.delete_user(A, "only-b"))
    deleted = await s.identity.delete_user(A, "u1")
    assert list(deleted.profile_ids) == [a_user.profile_id] and deleted.events_deleted == 1
    still = await s.identity.get_user(B, "u1")
    assert [d.token for d in still.devices] == ["b-device-token"]
    assert sorted(e.campaign for e in (await s.campaign.explain(B, "u1")).entries) == ["Only in B", "Welcome"]
    assert [e.name for e in (await s.ingest.list_user_events(B, "u1")).events] == ["[Segment] Signed Up"]
    assert len(await s.sends(B)) == 2
