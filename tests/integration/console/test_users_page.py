"""The Users pages: search by user id, anonymous id or email; a profile with its events (paged),
sends, subscription state, the unsubscribe / resubscribe buttons, and Explain (the user's
campaign entries and their steps in herald explain's words, filtered by campaign)."""

from __future__ import annotations

import asyncio
import re

from tests.integration.console.conftest import apply_campaign, identify, track

CAMPAIGN = """
name: Welcome email
trigger:
  event: "[Segment] Signed Up"
delay: 1d
message:
  channel: email
  subject: "Welcome {{ first_name | default: 'friend' }}"
  body: "Hello"
"""

ORDERS = """
name: After an order
trigger:
  event: "[Segment] Order Completed"
message:
  channel: email
  subject: "Thanks"
  body: "Thanks"
"""


def links_of(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="([^"]+)">', html)


async def test_search_finds_by_user_id_email_and_anonymous_id_from_indexes(console_any_db):
    console = console_any_db
    await identify(console.backend, "ada-1", {"email": "Ada@Example.com", "first_name": "Ada"}, anonymous_id="anon-ada")
    await identify(console.backend, "ada-2", {"email": "ada2@example.com"})
    await identify(console.backend, "bob", {"email": "bob@example.com"})
    by_email = await console.client.get("/users", params={"q": "ADA@example.com "})
    assert by_email.status_code == 200
    assert links_of(by_email.text) == ["/users/ada-1"]
    assert "email" in by_email.text
    by_anonymous = await console.client.get("/users", params={"q": "anon-ada"})
    assert links_of(by_anonymous.text) == ["/users/ada-1"]
    by_prefix = await console.client.get("/users", params={"q": "ada"})
    assert sorted(links_of(by_prefix.text)) == ["/users/ada-1", "/users/ada-2"]
    nobody = await console.client.get("/users", params={"q": "zed"})
    assert "No user has the user id, anonymous id or email <strong>zed</strong>" in nobody.text


async def test_the_profile_shows_attributes_ids_subscription_events_and_sends(signed_in):
    backend = signed_in.backend
    await apply_campaign(backend, CAMPAIGN)
    await identify(backend, "cy", {"email": "cy@example.com", "first_name": "Cy", "plan": "pro"}, anonymous_id="anon-cy")
    await track(backend, "cy", "Signed Up", {"plan": "pro"})
    await track(backend, "cy", "Viewed Pricing", {"tier": 2})
    for _ in range(100):  # ingest's outbox hands the event to campaign, which schedules the send
        if await backend.campaign.user_sends("default", "cy"):
            break
        await asyncio.sleep(0.05)
    page = await signed_in.client.get("/users/cy")
    assert page.status_code == 200
    html = page.text
    assert "<dt>first_name</dt><dd>Cy</dd>" in html and "<dt>plan</dt><dd>pro</dd>" in html
    assert "<code>anon-cy</code>" in html
    assert "subscribed</span> to every campaign" in html
    events = re.findall(r'<th scope="row"><a href="/events/[^"]+">([^<]+)</a></th>', html)
    assert events == ["[Segment] Viewed Pricing", "[Segment] Signed Up"]  # newest first
    sends = html.split('id="sends"')[1]
    assert ">Welcome email</a>" in sends and "status-scheduled" in sends
    assert "herald explain cy" in html
    explain = html.split('id="explain"')[1]
    assert "Welcome email · triggered by event" in explain and "Entered: an email is due at" in explain


async def test_events_of_a_user_page_by_cursor(signed_in):
    from herald_services.console.pages import users

    for number in range(users.EVENTS_PAGE_SIZE + 3):
        await track(signed_in.backend, "dee", f"Step {number:02d}")
    first = await signed_in.client.get("/users/dee")
    names = re.findall(r'>\[Segment\] Step (\d\d)</a>', first.text)
    assert len(names) == users.EVENTS_PAGE_SIZE
    older = re.search(r'href="(/users/dee\?before=[^"#]+)#events" rel="next"', first.text)
    assert older, "no link to older events"
    second = await signed_in.client.get(older.group(1).replace("&amp;", "&"))
    rest = re.findall(r'>\[Segment\] Step (\d\d)</a>', second.text)
    assert len(rest) == 3 and not set(rest) & set(names)
    assert 'rel="next"' not in second.text


async def test_unsubscribe_and_resubscribe_from_the_profile(signed_in):
    await apply_campaign(signed_in.backend, CAMPAIGN)
    await identify(signed_in.backend, "eve", {"email": "eve@example.com"})
    answer = await signed_in.post("/users/eve/unsubscribe", {"campaign": ""})
    assert answer.status_code == 303
    page = await signed_in.client.get(answer.headers["location"])
    assert "Unsubscribed from every campaign" in page.text and "unsubscribed</span> from every campaign" in page.text
    await signed_in.post("/users/eve/resubscribe", {"campaign": ""})
    await signed_in.post("/users/eve/unsubscribe", {"campaign": "Welcome email"})
    page = await signed_in.client.get("/users/eve")
    assert "except to: <code>Welcome email</code>" in page.text
    refused = await signed_in.post("/users/eve/unsubscribe", {"campaign": "Nope"})
    assert refused.status_code == 400
    assert "Campaign: there is no campaign named &#39;Nope&#39;" in refused.text
    assert 'value="Nope"' in refused.text  # what was typed is kept


async def test_an_unknown_user_is_a_404_naming_them(signed_in):
    answer = await signed_in.client.get("/users/nobody-here")
    assert answer.status_code == 404
    assert "user &#39;nobody-here&#39;" in answer.text


async def test_the_profile_shows_the_users_experiment_groups(signed_in):
    """The global control group and each live campaign's holdout or variant, as `herald users show`
    gives them (GetUserExperiments): the same sticky groups the user's sends get."""
    from herald.campaign.v1 import campaign_pb2
    from herald_common.testing import AuthorizedStub

    from tests.integration.console.conftest import WORKSPACE

    await identify(signed_in.backend, "grp1", {"email": "grp1@example.com"})
    none = (await signed_in.client.get("/users/grp1")).text
    assert "No live campaign has a holdout or variants." in none and "global control</span>" not in none
    await apply_campaign(signed_in.backend, """name: Split
trigger: {event: "[Segment] Trial Started"}
variants:
  - {name: plain, weight: 50, message: {channel: email, subject: a, body: a}}
  - {name: bold, weight: 50, message: {channel: email, subject: b, body: b}}
""")
    stub = AuthorizedStub(signed_in.backend.campaign)
    expected = await stub.GetUserExperiments(campaign_pb2.GetUserExperimentsRequest(
        workspace_id=WORKSPACE, user_id="grp1", profile_id=(await signed_in.backend.identity.get_user(WORKSPACE, "grp1")).profile_id))
    [assignment] = expected.campaigns
    page = (await signed_in.client.get("/users/grp1")).text
    groups = re.search(r'<section class="card" id="groups".*?</section>', page, re.S).group(0)
    assert re.search(rf'<a href="/campaigns/Split">Split</a></th><td><span class="badge[^"]*">{assignment.group}</span></td>'
                     rf'<td>{assignment.variant or "—"}</td>', groups), groups
    # Everyone in the global control: the page says so.
    await stub.ApplySettings(campaign_pb2.ApplySettingsRequest(workspace_id=WORKSPACE, source_yaml="global_control: 50%\n"))
    for user in range(40):  # 50% of users: find one who is in it
        user_id = f"gc{user}"
        await identify(signed_in.backend, user_id, {"email": f"{user_id}@example.com"})
        profile = (await signed_in.backend.identity.get_user(WORKSPACE, user_id)).profile_id
        found = await stub.GetUserExperiments(campaign_pb2.GetUserExperimentsRequest(
            workspace_id=WORKSPACE, user_id=user_id, profile_id=profile))
        page = (await signed_in.client.get(f"/users/{user_id}")).text
        if found.global_control:
            assert "global control</span> held out of every campaign" in page and "(50% of the workspace" in page
            break
        assert "Not in the global control group (50% of users)." in page
    else:
        raise AssertionError("no user of 40 in a 50% global control group")


async def test_explain_lists_the_users_entries_in_words_newest_first_with_a_campaign_filter(signed_in):
    backend = signed_in.backend
    await apply_campaign(backend, CAMPAIGN)
    await apply_campaign(backend, ORDERS)
    await identify(backend, "fox", {"email": "fox@example.com"})
    await track(backend, "fox", "Signed Up", {"plan": "pro"})
    await track(backend, "fox", "Signed Up", {"plan": "team"})
    for _ in range(100):
        if len(await backend.campaign.user_sends("default", "fox")) == 2:
            break
        await asyncio.sleep(0.05)
    page = await signed_in.client.get("/users/fox")
    assert page.status_code == 200
    section = page.text.split('id="explain"')[1]
    headings = re.findall(r'<h3 class="small">(Welcome email · triggered by event (\d+) at [^<]+)<span', section)
    assert len(headings) == 2 and int(headings[0][1]) > int(headings[1][1])  # newest first
    assert "Triggered by `[Segment] Signed Up`" in section and "Entered: an email is due at " in section
    assert "Delivery scheduled it, ready at " in section
    assert section.index('data-step="triggered"') < section.index('data-step="entered"')
    # the filter is a plain GET form: no JavaScript needed
    assert re.search(r'<form method="get" action="/users/fox#explain"', section)
    assert '<option value="After an order">After an order</option>' in section
    filtered = await signed_in.client.get("/users/fox", params={"campaign": "After an order"})
    never = filtered.text.split('id="explain"')[1]
    assert "&#39;fox&#39; never entered &#39;After an order&#39;: the user never did its trigger event" in never
    assert '<option value="After an order" selected>' in never and 'data-step=' not in never
    unknown = await signed_in.client.get("/users/fox", params={"campaign": "Nope"})
    assert unknown.status_code == 200
    assert "There is no campaign named &#39;Nope&#39; in this workspace." in unknown.text.split('id="explain"')[1]
