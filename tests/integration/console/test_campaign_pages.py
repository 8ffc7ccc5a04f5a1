"""The campaign pages against the four real services: the editor (errors by path, the input kept,
CRLF kept as LF, draft or live), the preview, the list and campaign page filling as a send goes
out and converts, pause with its confirmation, and the 404 / 503 / CSRF pages."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime

import orjson
from herald.campaign.v1 import campaign_pb2
from herald.identity.v1 import identity_pb2
from herald_common.access import Caller
from herald_common.clients import IdentityClient
from herald_common.protoconv import set_timestamp
from herald_common.testing import AuthorizedStub
from markupsafe import escape

from tests.integration.console.conftest import INTERNAL_TOKEN, WORKSPACE, track

CAMPAIGN = """name: Welcome mail
trigger:
  event: "[Segment] Signed Up"
filters:
  any_of:
    - all_of:
        - { source: event, property: plan, op: gtt, value: 1 }
message:
  channel: email
  subject: "Welcome, {{ first_name | default: 'there' }}"
  body: "Your plan: {{ event.plan }}"
goals:
  - name: Activated
    event: "[Segment] Activated"
    within: 1d
"""
FIXED = CAMPAIGN.replace("op: gtt, value: 1", "op: exists")


async def identify(console, user_id: str, **traits) -> None:
    """A Segment identify, handed to identity as the gateway does (with the gateway's token)."""
    call = identity_pb2.IdentifyCall(message_id=uuid.uuid4().hex, user_id=user_id, traits_json=orjson.dumps(traits))
    set_timestamp(call.timestamp, datetime.now(UTC))
    gateway = IdentityClient(console.backend.identity.address, 10, caller=Caller(internal_token=INTERNAL_TOKEN))
    try:
        await gateway.identify(identity_pb2.IdentifyRequest(workspace_id=WORKSPACE, calls=[call]))
    finally:
        await gateway.close()


async def source_of(console, name: str) -> str:
    campaign = await AuthorizedStub(console.backend.campaign).GetCampaign(
        campaign_pb2.GetCampaignRequest(workspace_id=WORKSPACE, name=name))
    return campaign.source_yaml


def figure(page: str, label: str) -> str:
    found = re.search(rf"<dt>{re.escape(label)}</dt><dd>([^<]*)</dd>", page)
    assert found, f"no figure {label!r}"
    return found.group(1)


async def test_the_editor_shows_errors_by_path_keeps_the_input_and_saves_what_was_typed(signed_in):
    empty = await signed_in.client.get("/campaigns")
    assert empty.status_code == 200 and "No campaigns in this workspace yet" in empty.text
    new = await signed_in.client.get("/campaigns/new")
    assert new.status_code == 200 and 'name="source_yaml"' in new.text and "name: My campaign" in new.text

    refused = await signed_in.post("/campaigns/new", {"source_yaml": CAMPAIGN, "action": "draft"})
    assert refused.status_code == 400
    assert "<code class=\"path\">filters.any_of[0].all_of[0].op</code>: unknown operator &#39;gtt&#39;" in refused.text
    assert str(escape(CAMPAIGN)) in refused.text  # what was typed, kept
    assert 'aria-invalid="true" aria-describedby="source-errors"' in refused.text
    assert '<span class="line">line 7</span> <code class="path">filters.any_of[0].all_of[0].op' in refused.text
    assert (await AuthorizedStub(signed_in.backend.campaign).ListCampaigns(
        campaign_pb2.ListCampaignsRequest(workspace_id=WORKSPACE))).campaigns == []

    typed = FIXED.replace("\n", "\r\n")  # as a browser sends a textarea
    saved = await signed_in.post("/campaigns/new", {"source_yaml": typed, "action": "draft"})
    assert saved.status_code == 303 and saved.headers["location"].startswith("/campaigns/Welcome%20mail?changed=")
    assert await source_of(signed_in, "Welcome mail") == FIXED  # `herald campaigns show` gives this back
    page = await signed_in.client.get(saved.headers["location"])
    assert "campaign-draft" in page.text and "saved; version 1, draft" in page.text

    edit = await signed_in.client.get("/campaigns/Welcome%20mail/edit")
    assert str(escape(FIXED)) in edit.text and "Save and go live" in edit.text
    live = await signed_in.post("/campaigns/Welcome%20mail/edit", {"source_yaml": FIXED, "action": "live"})
    assert live.status_code == 303 and "unchanged; version 1, live" in (await signed_in.client.get(live.headers["location"])).text


async def test_preview_renders_for_a_user_with_their_latest_trigger_event_or_typed_json(signed_in):
    await identify(signed_in, "pv1", email="pv1@example.com", first_name="Pia")
    await track(signed_in.backend, "pv1", "Signed Up", {"plan": "Pro"})
    answer = await signed_in.post("/campaigns/new", {"source_yaml": FIXED, "action": "preview", "preview_user": "pv1"})
    assert answer.status_code == 200, answer.text
    assert '<p class="subject">Welcome, Pia</p>' in answer.text
    assert "Your plan: Pro" in answer.text and "pv1@example.com" in answer.text
    assert "latest [Segment] Signed Up event" in answer.text
    typed = await signed_in.post("/campaigns/new", {"source_yaml": FIXED, "action": "preview", "preview_user": "pv1",
                                                     "preview_event": '{"plan": "Team"}'})
    assert "Your plan: Team" in typed.text and str(escape('{"plan": "Team"}')) in typed.text
    bad = await signed_in.post("/campaigns/new", {"source_yaml": FIXED, "action": "preview", "preview_user": "pv1",
                                                   "preview_event": "[1, 2]"})
    assert bad.status_code == 400 and "Trigger event properties must be a JSON object" in bad.text
    nobody = await signed_in.post("/campaigns/new", {"source_yaml": FIXED, "action": "preview", "preview_user": "ghost"})
    assert nobody.status_code == 400 and "User id no user &#39;ghost&#39;" in nobody.text
    broken = await signed_in.post("/campaigns/new", {"source_yaml": CAMPAIGN, "action": "preview", "preview_user": "pv1"})
    assert broken.status_code == 400 and "filters.any_of[0].all_of[0].op" in broken.text
    assert (await AuthorizedStub(signed_in.backend.campaign).ListCampaigns(
        campaign_pb2.ListCampaignsRequest(workspace_id=WORKSPACE))).campaigns == []  # a preview saves nothing


async def test_the_campaign_page_fills_as_a_send_goes_out_and_converts_then_pauses(signed_in):
    assert (await signed_in.post("/campaigns/new", {"source_yaml": FIXED, "action": "live"})).status_code == 303
    await identify(signed_in, "cv1", email="cv1@example.com", first_name="Cy")
    await track(signed_in.backend, "cv1", "Signed Up", {"plan": "Pro"})
    for _ in range(100):
        page = (await signed_in.client.get("/campaigns/Welcome%20mail")).text
        if figure(page, "Sent") == "1":
            break
        await asyncio.sleep(0.1)
    assert figure(page, "Sent") == "1" and figure(page, "Triggered") == "1"
    await track(signed_in.backend, "cv1", "Activated")
    today = datetime.now(UTC).date().isoformat()
    day_row = rf'<th scope="row">{today}</th><td class="num">1</td><td class="num">1</td>'
    # The page reads its figures and its chart at once: wait until both have the conversion.
    for _ in range(50):
        page = (await signed_in.client.get("/campaigns/Welcome%20mail")).text
        if figure(page, "Conversion (Activated)") == "100.0%" and re.search(day_row, page):
            break
        await asyncio.sleep(0.1)
    assert figure(page, "Conversion (Activated)") == "100.0%"
    assert re.search(day_row, page)
    assert '<a href="/users/cv1">cv1</a>' in page and "status-sent" in page
    assert "Version 1" in page and str(escape(FIXED)) in page

    listing = (await signed_in.client.get("/campaigns")).text
    row = re.search(r"<tr>\s*<th scope=\"row\"><a href=\"/campaigns/Welcome%20mail\">.*?</tr>", listing, re.S).group(0)
    cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
    assert cells[:2] == ["1", "1"] and "100.0%" in cells[2] and "email" in row and "campaign-live" in row

    confirm = await signed_in.client.get("/campaigns/Welcome%20mail/pause")
    assert confirm.status_code == 200 and "Pause Welcome mail?" in confirm.text and 'method="post"' in confirm.text
    paused = await signed_in.post("/campaigns/Welcome%20mail/pause", {})
    assert paused.status_code == 303
    page = (await signed_in.client.get(paused.headers["location"])).text
    assert "campaign-paused" in page and "Resume…" in page and "Pause…" not in page
    refused = await signed_in.client.get("/campaigns/Welcome%20mail/pause")
    assert "A paused campaign cannot be paused" in refused.text


async def test_unknown_campaign_bad_token_csrf_and_a_service_down(signed_in):
    missing = await signed_in.client.get("/campaigns/No%20such")
    assert missing.status_code == 404 and "campaign &#39;No such&#39;" in missing.text
    assert (await signed_in.client.get("/campaigns/No%20such/edit")).status_code == 404
    assert (await signed_in.client.get("/campaigns?page=garbage")).status_code == 303
    forged = await signed_in.client.post("/campaigns/new", data={"source_yaml": FIXED, "action": "live"})
    assert forged.status_code == 403
    assert (await AuthorizedStub(signed_in.backend.campaign).ListCampaigns(
        campaign_pb2.ListCampaignsRequest(workspace_id=WORKSPACE))).campaigns == []
    await signed_in.running["campaign"].stop()
    down = await signed_in.client.get("/campaigns")
    assert down.status_code == 503 and "campaign is not answering" in down.text and "Traceback" not in down.text


EXPERIMENT = """name: Trial AB
trigger:
  event: "[Segment] Trial Started"
holdout: 50%
variants:
  - name: plain
    weight: 50
    message: {channel: email, subject: "Your trial", body: "Trial started"}
  - name: emoji
    weight: 50
    message: {channel: email, subject: "Your trial 🎉", body: "Trial started 🎉"}
goals:
  - {name: Subscribed, event: "[Segment] Subscribed", within: 7d}
"""


async def test_the_campaign_page_compares_holdout_and_variants_and_promotes_one(signed_in):
    """A 50% holdout with two variants: the page's lift table (treatment against control, with
    "not enough data" below the minimum group size) and variants table (sent, conversions, rate,
    chance to beat the first), then Promote with its confirmation makes one variant the campaign."""
    assert (await signed_in.post("/campaigns/new", {"source_yaml": EXPERIMENT, "action": "live"})).status_code == 303
    users = [f"ab{n}" for n in range(24)]
    for user in users:
        await identify(signed_in, user, email=f"{user}@example.com")
        await track(signed_in.backend, user, "Trial Started")
    stub = AuthorizedStub(signed_in.backend.campaign)
    for _ in range(200):
        stats = await stub.GetCampaignStats(campaign_pb2.GetCampaignStatsRequest(workspace_id=WORKSPACE, name="Trial AB"))
        if stats.sent + stats.held_out == len(users):
            break
        await asyncio.sleep(0.1)
    assert stats.sent + stats.held_out == len(users) and stats.held_out > 0 and stats.sent > 0
    converted = [send.user_id for send in (await stub.ListSends(campaign_pb2.ListSendsRequest(
        workspace_id=WORKSPACE, campaign="Trial AB", limit=100))).sends][:6]
    for user in converted:
        await track(signed_in.backend, user, "Subscribed")
    for _ in range(100):
        stats = await stub.GetCampaignStats(campaign_pb2.GetCampaignStatsRequest(workspace_id=WORKSPACE, name="Trial AB"))
        goal = stats.goals[0]
        if goal.treatment_conversions + goal.control_conversions == len(converted):
            break
        await asyncio.sleep(0.1)

    page = (await signed_in.client.get("/campaigns/Trial%20AB")).text
    lift = re.search(r'<section aria-labelledby="lift-heading".*?</section>', page, re.S).group(0)
    assert "Holdout 50%" in lift and f"Held out so far: {stats.held_out} (holdout {stats.held_out})" in lift
    row = re.search(r'<th scope="row">Subscribed.*?</tr>', lift, re.S).group(0)
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r'<td class="num">(.*?)</td>', row, re.S)]
    assert cells[0] == f"{goal.treatment_conversions} / {stats.sent} ({goal.treatment_rate * 100:.1f}%)"
    assert cells[1] == f"{goal.control_conversions} / {stats.held_out} ({goal.control_rate * 100:.1f}%)"
    assert cells[3] == "not enough data"  # 24 users: far below the minimum group size
    assert f"below {stats.min_group_size}" in lift
    table = re.search(r'<section aria-labelledby="variants-heading".*?</section>', page, re.S).group(0)
    by_variant = {v.name: v for v in stats.variants}
    for name in ("plain", "emoji"):
        assert re.search(rf'<th scope="row" rowspan="1">{name}</th>\s*<td class="num" rowspan="1">50%</td>\s*'
                         rf'<td class="num" rowspan="1">{by_variant[name].sent}</td>', table), name
    assert "(the first)" in table and table.count("Promote…") == 2
    assert "Variants" not in re.sub(r'<section aria-labelledby="variants-heading".*?</section>', "", page, flags=re.S)

    confirm = await signed_in.client.get("/campaigns/Trial%20AB/promote?variant=emoji")
    assert confirm.status_code == 200 and "Promote emoji?" in confirm.text and "plain is no longer sent" in confirm.text
    assert "The holdout (50%) stays" in confirm.text
    unknown = await signed_in.client.get("/campaigns/Trial%20AB/promote?variant=bold")
    assert unknown.status_code == 404 and "variant &#39;bold&#39;" in unknown.text
    promoted = await signed_in.post("/campaigns/Trial%20AB/promote", {"variant": "emoji"})
    assert promoted.status_code == 303
    after = (await signed_in.client.get(promoted.headers["location"])).text
    assert "variant emoji promoted; version 2, live" in after
    source = await source_of(signed_in, "Trial AB")
    assert "variants" not in source and "Your trial 🎉" in source and "holdout: 50%" in source
    # The sends of the variants stay on the page, now as an earlier version's, and cannot be promoted.
    assert "earlier version" in after and "Promote…" not in after
