"""The Events page: the catalogue table, show hidden, hide/unhide, define; an event's page."""

from __future__ import annotations

import re

from tests.integration.console.conftest import track


def row_of(html: str, name: str) -> str:
    for row in re.findall(r"<tr.*?</tr>", html, flags=re.S):
        if f">{name}</a>" in row:
            return row
    raise AssertionError(f"no row for {name!r}")


async def test_the_table_shows_each_event_with_definitions_times_seen_and_yes_for_the_last_day(signed_in):
    await track(signed_in.backend, "u1", "Added item to cart", {"price": 50})
    await track(signed_in.backend, "u2", "Added item to cart", {"price": 20, "locale": "EU"})
    await track(signed_in.backend, "u1", "Pricing", kind="page")
    page = await signed_in.client.get("/events")
    assert page.status_code == 200
    row = row_of(page.text, "[Segment] Added item to cart")
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == ["2", "2"]  # two property sets, seen twice
    assert ">Yes<" in row
    assert ">Yes<" in row_of(page.text, "[Segment Page] Pricing")


async def test_hiding_an_event_leaves_it_out_until_show_hidden(signed_in):
    await track(signed_in.backend, "u1", "Signed Up")
    answer = await signed_in.post("/events/%5BSegment%5D%20Signed%20Up/hide", {})
    assert answer.status_code == 303
    assert "[Segment] Signed Up" not in (await signed_in.client.get("/events")).text
    shown = await signed_in.client.get("/events?hidden=1")
    assert "hidden</span>" in row_of(shown.text, "[Segment] Signed Up")
    await signed_in.post("/events/%5BSegment%5D%20Signed%20Up/unhide", {})
    assert "[Segment] Signed Up" in (await signed_in.client.get("/events")).text


async def test_hiding_with_htmx_answers_the_row_alone(signed_in):
    await track(signed_in.backend, "u1", "Logged In")
    token = await signed_in.csrf()
    answer = await signed_in.client.post(
        "/events/%5BSegment%5D%20Logged%20In/hide", headers={"HX-Request": "true", "X-CSRF-Token": token}
    )
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith("<tr")
    assert "Unhide" in answer.text and "<html" not in answer.text


async def test_defining_an_event_adds_it_with_zero_counts(signed_in):
    answer = await signed_in.post("/events", {"kind": "track", "name": "Trial Ended", "description": "the trial ran out"})
    assert answer.status_code == 303
    page = await signed_in.client.get(answer.headers["location"])
    row = row_of(page.text, "[Segment] Trial Ended")
    assert "defined, not seen yet" in row and "the trial ran out" in row
    assert ">No<" in row


async def test_a_bad_name_is_refused_with_the_field_named_and_the_input_kept(signed_in):
    answer = await signed_in.post("/events", {"kind": "track", "name": "   ", "description": "kept text"})
    assert answer.status_code == 400
    assert "Event name is required" in answer.text
    assert "kept text</textarea>" in answer.text
    assert 'aria-invalid="true"' in answer.text
    again = await signed_in.post("/events", {"kind": "page", "name": "[Segment] Twice", "description": ""})
    assert again.status_code == 400
    assert "without the [Segment] prefix" in again.text
    assert 'value="[Segment] Twice"' in again.text


async def test_an_unknown_event_is_a_404_page_naming_it(signed_in):
    answer = await signed_in.client.get("/events/%5BSegment%5D%20Nope")
    assert answer.status_code == 404
    assert "[Segment] Nope" in answer.text


async def test_an_event_page_lists_each_property_set_with_its_count(signed_in):
    await track(signed_in.backend, "u1", "Purchase made", {"price": 5})
    await track(signed_in.backend, "u2", "Purchase made", {"price": 6})
    await track(signed_in.backend, "u3", "Purchase made", {"price": 7, "coupon": True})
    page = await signed_in.client.get("/events/%5BSegment%5D%20Purchase%20made")
    assert page.status_code == 200
    property_sets = page.text.split('id="chart-heading"')[0]
    sets = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td class=\"num\">(\d+)</td>", property_sets, flags=re.S)
    assert [(re.findall(r"<code>(.*?)</code>", props), int(n)) for props, n in sets] == [
        (["price"], 2),
        (["coupon", "price"], 1),
    ]


async def test_a_service_that_is_down_is_named_on_the_page(signed_in):
    await signed_in.running["ingest"].stop()
    answer = await signed_in.client.get("/events")
    assert answer.status_code == 503
    assert "ingest is not answering" in answer.text
    assert "Traceback" not in answer.text


async def test_an_event_page_charts_30_days_and_lists_its_latest_events_paged(console_any_db, monkeypatch):
    from herald_services.console.pages import events

    console = console_any_db
    for number in range(3):
        await track(console.backend, f"buyer-{number}", "Order Completed", {"total": number})
    await track(console.backend, "other", "Signed Up")
    page = await console.client.get("/events/%5BSegment%5D%20Order%20Completed")
    assert page.status_code == 200
    days = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td><td class=\"num\">(\d+)</td></tr>", page.text)
    assert len(days) == 30 and days[-1][1] == "3" and all(count == "0" for _, count in days[:-1])
    assert 'data-chart="' in page.text
    latest = page.text.split('id="latest"')[1]
    assert re.findall(r'href="/users/([^"]+)"', latest) == ["buyer-2", "buyer-1", "buyer-0"]
    assert "other" not in latest

    monkeypatch.setattr(events, "LATEST_EVENTS", 2)
    first = (await console.client.get("/events/%5BSegment%5D%20Order%20Completed")).text.split('id="latest"')[1]
    assert re.findall(r'href="/users/([^"]+)"', first) == ["buyer-2", "buyer-1"]
    older = re.search(r'href="([^"]+)#latest" rel="next"', first).group(1)
    rest = (await console.client.get(older)).text.split('id="latest"')[1]
    assert re.findall(r'href="/users/([^"]+)"', rest) == ["buyer-0"]
