"""The Sends page: the workspace's sends newest first, filtered by campaign, status and channel,
paged by delivery's cursor, with each send's provider outcome."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from herald.delivery.v1 import delivery_pb2
from herald_common.protoconv import set_timestamp

from tests.integration.console.conftest import apply_campaign, internal_delivery

CAMPAIGN = """
name: {name}
trigger:
  event: "[Segment] {name}"
message:
  channel: {channel}
  {fields}
"""
FIELDS = {"email": 'subject: "Hi"\n  body: "Hello"', "sms": 'body: "Hello"'}


async def schedule(console, campaign_id: str, channel: str, count: int, *, prefix: str) -> list[str]:
    """Sends as campaign hands them to delivery, a day away (they stay scheduled)."""
    sends = []
    start = datetime.now(UTC)
    for number in range(count):
        send = delivery_pb2.ScheduledSend(
            id=f"{prefix}-{number:03d}", workspace_id="default", campaign_id=campaign_id,
            profile_id=f"p-{prefix}-{number}", user_id=f"{prefix}-user-{number}", channel=channel,
            delay_seconds=86_400,
        )
        set_timestamp(send.trigger_at, start + timedelta(milliseconds=number))
        sends.append(send)
    delivery = await internal_delivery(console.backend)
    try:
        await delivery.schedule(sends)
    finally:
        await delivery.close()
    return [s.id for s in sends]


async def campaign(console, name: str, channel: str) -> str:
    applied = await apply_campaign(console.backend, CAMPAIGN.format(name=name, channel=channel, fields=FIELDS[channel]))
    return applied.campaign.id


def users_listed(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/users/[^"]+">([^<]+)</a></th>', html)


async def test_sends_are_listed_newest_first_and_filtered_by_campaign_status_and_channel(console_any_db, monkeypatch):
    from herald_services.console.pages import sends

    console = console_any_db
    welcome = await campaign(console, "Welcome", "email")
    nudge = await campaign(console, "Nudge", "sms")
    await schedule(console, welcome, "email", 3, prefix="w")
    nudged = await schedule(console, nudge, "sms", 2, prefix="n")
    delivery = await internal_delivery(console.backend)
    try:
        await delivery.cancel_sends([nudged[0]], reason="test")
    finally:
        await delivery.close()

    page = await console.client.get("/sends")
    assert page.status_code == 200
    listed = users_listed(page.text)
    assert set(listed) == {"w-user-0", "w-user-1", "w-user-2", "n-user-0", "n-user-1"}
    assert ">Welcome</a>" in page.text and ">Nudge</a>" in page.text

    by_campaign = await console.client.get("/sends", params={"campaign": "Welcome"})
    assert sorted(users_listed(by_campaign.text)) == ["w-user-0", "w-user-1", "w-user-2"]
    by_status = await console.client.get("/sends", params={"status": "cancelled"})
    assert users_listed(by_status.text) == ["n-user-0"]
    by_channel = await console.client.get("/sends", params={"channel": "sms", "status": "scheduled"})
    assert users_listed(by_channel.text) == ["n-user-1"]

    # Paged by cursor: two a page, every send once, newest first across the pages.
    monkeypatch.setattr(sends, "PAGE_SIZE", 2)
    seen, path = [], "/sends?campaign=Welcome"
    while path:
        answer = await console.client.get(path)
        seen += users_listed(answer.text)
        found = re.search(r'href="([^"]+)" rel="next"', answer.text)
        path = found.group(1).replace("&amp;", "&") if found else ""
        assert not found or "campaign=Welcome" in path  # the filter stays on the next page
    assert seen == ["w-user-2", "w-user-1", "w-user-0"]


async def test_a_bad_filter_is_refused_naming_the_field_and_keeping_the_input(signed_in):
    answer = await signed_in.client.get("/sends", params={"campaign": "No such", "status": "lost"})
    assert answer.status_code == 400
    assert "Campaign: there is no campaign named &#39;No such&#39;" in answer.text
    assert "Status must be one of scheduled" in answer.text
    assert 'value="No such"' in answer.text


async def test_delivery_down_is_named_on_the_page(signed_in):
    await signed_in.running.pop("delivery").stop()  # (not stopped twice at teardown)
    answer = await signed_in.client.get("/sends")
    assert answer.status_code == 503
    assert "delivery is not answering" in answer.text
