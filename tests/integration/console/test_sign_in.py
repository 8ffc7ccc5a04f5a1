"""Signing in to the console: the admin token, the session cookie, CSRF, signing out."""

from __future__ import annotations

from tests.integration.console.conftest import ADMIN_TOKEN, csrf_of


async def test_every_page_but_sign_in_redirects_to_login_without_a_session(console):
    for path in ("/events", "/events/anything", "/users", "/sends", "/logout"):
        answer = await console.client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
    assert (await console.client.get("/login")).status_code == 200
    assert (await console.client.get("/health")).status_code == 200


async def test_an_htmx_request_without_a_session_is_told_to_go_to_login(console):
    answer = await console.client.post("/events/x/hide", headers={"HX-Request": "true"})
    assert answer.status_code == 401
    assert answer.headers["HX-Redirect"].startswith("/login")


async def test_a_wrong_token_is_refused_with_a_message_after_a_delay(console):
    token = csrf_of((await console.client.get("/login")).text)
    answer = await console.client.post("/login", data={"token": "not-it", "csrf_token": token})
    assert answer.status_code == 401
    assert "That is not the admin token" in answer.text
    assert console.sleeps == [1.0]
    assert (await console.client.get("/events")).status_code == 303  # still signed out


async def test_the_right_token_opens_a_signed_httponly_samesite_session(console):
    token = csrf_of((await console.client.get("/login")).text)
    answer = await console.client.post(
        "/login", data={"token": ADMIN_TOKEN, "csrf_token": token, "next": "/events?hidden=1"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/events?hidden=1"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert console.sleeps == []
    assert (await console.client.get("/events")).status_code == 200


async def test_a_tampered_session_cookie_is_not_a_session(console):
    await console.sign_in()
    value = console.client.cookies["herald_console"]
    console.client.cookies.clear()
    console.client.cookies.set("herald_console", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert (await console.client.get("/events")).status_code == 303


async def test_sign_in_goes_only_to_a_page_of_the_console(console):
    token = csrf_of((await console.client.get("/login")).text)
    answer = await console.client.post(
        "/login", data={"token": ADMIN_TOKEN, "csrf_token": token, "next": "https://evil.example/"}
    )
    assert answer.headers["location"] == "/events"


async def test_a_form_without_the_csrf_token_changes_nothing(signed_in):
    answer = await signed_in.client.post("/events", data={"kind": "track", "name": "Forged"})
    assert answer.status_code == 403
    assert "This form has expired" in answer.text
    page = await signed_in.client.get("/events")
    assert "Forged" not in page.text


async def test_signing_out_ends_the_session(signed_in):
    answer = await signed_in.post("/logout", {})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    assert (await signed_in.client.get("/events")).status_code == 303


async def test_the_workspace_switcher_appears_with_a_second_workspace_and_links_keep_it(signed_in):
    assert 'id="workspace-switcher"' not in (await signed_in.client.get("/events")).text
    await signed_in.backend.identity.ensure_workspace(workspace_id="shop", name="Shop", write_key="wk_shop")
    signed_in.client._transport.app.state.workspaces_cache = (0.0, [])  # do not wait 30 s for the list
    page = await signed_in.client.get("/events?workspace=shop")
    assert 'id="workspace-switcher"' in page.text
    assert '<option value="shop" selected>' in page.text
    assert 'href="/users?workspace=shop"' in page.text
