"""herald explain and herald users delete over the whole suite (the four services and the gateway,
in-process over SQLite): the entries of a user who got the message, in words and as CONTRACT.md's
JSON, found by user id or a joined anonymous id; the "never entered" answer from ingest's record of
the user's events; clear errors naming an unknown user or campaign; and a privacy deletion that
removes the user's decision steps from campaign and delivery, failing while delivery is down and
finished by a retry."""

from __future__ import annotations

import asyncio
import io
import json
import time

import httpx
import pytest
import structlog
from herald.campaign.v1 import campaign_pb2
from herald_cli.main import main
from herald_common.clients import CampaignClient, DeliveryClient, IngestClient
from herald_common.steps import read_steps
from herald_common.testing import AuthorizedStub, suite_caller
from herald_services.campaign.handlers import STEPS
from herald_services.delivery.main import build as build_delivery
from herald_services.gateway.main import build as build_gateway

from tests.integration.console.conftest import start_services
from tests.integration.test_sealed_workspaces import WELCOME

pytestmark = pytest.mark.asyncio

WORKSPACE, WRITE_KEY = "default", "wk_explain"
ORDERS = """name: After an order
trigger:
  event: "[Segment] Order Completed"
message:
  channel: email
  subject: "Thanks"
  body: "Thanks for your order"
"""


class Suite:
    def __init__(self, settings, running, gateway_url: str, capsys) -> None:
        caller = suite_caller(settings)
        self.settings, self.running, self.gateway_url, self.capsys = settings, running, gateway_url, capsys
        self.campaign = CampaignClient(settings.campaign_address, 10, caller=caller)
        self.delivery = DeliveryClient(settings.delivery_address, 10, caller=caller)
        self.ingest = IngestClient(settings.ingest_address, 10, caller=caller)

    async def segment(self, kind: str, **body) -> None:
        async with httpx.AsyncClient(base_url=self.gateway_url, timeout=10) as http:
            answer = await http.post(f"/v1/{kind}", auth=(WRITE_KEY, ""), json=body)
        assert answer.status_code == 200, answer.text

    async def apply(self, text: str) -> None:
        await AuthorizedStub(self.campaign).ApplyCampaign(
            campaign_pb2.ApplyCampaignRequest(workspace_id=WORKSPACE, source_yaml=text))

    async def herald(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    async def wait_until(self, predicate, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not await predicate():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.1)

    async def sent(self, user: str, count: int = 1) -> None:
        async def done() -> bool:
            sends = await self.campaign.user_sends(WORKSPACE, user)
            return len(sends) == count and all(s.status == "sent" for s in sends)

        await self.wait_until(done)

    def campaign_steps(self, profile_ids: list[str]):
        engine = self.running["campaign"].extras["servicer"].engine
        with engine.connect() as connection:
            return read_steps(connection, STEPS, workspace_id=WORKSPACE, profile_ids=profile_ids)

    async def close(self) -> None:
        for client in (self.campaign, self.delivery, self.ingest):
            await client.close()


@pytest.fixture
async def suite(sqlite_settings, monkeypatch, capsys):
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=io.StringIO()))
    wired, running = await start_services(sqlite_settings.model_copy(update={"settle_seconds": 0}))
    gateway = await build_gateway(wired.model_copy(update={"write_key": WRITE_KEY}), host="127.0.0.1", port=0)
    await gateway.start()
    for name in ("identity", "ingest", "campaign", "delivery"):
        monkeypatch.setenv(f"HERALD_{name.upper()}_ADDRESS", getattr(wired, f"{name}_address"))
    monkeypatch.setenv("HERALD_DATA_DIR", str(wired.data_dir))
    made = Suite(wired, running, gateway.url, capsys)
    yield made
    await made.close()
    await gateway.stop()
    for service in reversed(list(made.running.values())):
        await service.stop()
    structlog.reset_defaults()


async def test_explain_shows_a_sent_entry_in_words_and_as_json_by_user_id_or_anonymous_id(suite):
    await suite.apply(WELCOME)
    await suite.segment("identify", userId="ann", anonymousId="anon-ann",
                        traits={"email": "ann@example.com", "first_name": "Ann"})
    await suite.segment("track", userId="ann", event="Signed Up", messageId="m-1")
    await suite.sent("ann")

    code, out, err = await suite.herald("explain", "anon-ann", "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["user_id"] == "ann"
    [entry] = document["entries"]
    assert set(entry) >= {"campaign", "trigger_event_id", "triggered_at", "send_id", "status", "steps"}
    assert (entry["campaign"], entry["status"]) == ("Welcome", "sent") and entry["triggered_at"].endswith("+00:00")
    steps = [(s["step"], s["outcome"]) for s in entry["steps"]]
    assert steps[:2] == [("triggered", "received"), ("entered", "scheduled")]
    assert ("scheduled", "scheduled") in steps and ("confirm", "go") in steps
    assert steps[-2:] == [("attempt", "accepted"), ("sent", "sent")]
    assert all(set(s) == {"at", "step", "outcome", "detail"} for s in entry["steps"])
    assert entry["steps"][0]["detail"]["event"] == "[Segment] Signed Up"

    code, out, err = await suite.herald("explain", "ann")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("Welcome · triggered by event ") and lines[0].endswith(" · sent")
    assert "  Triggered by `[Segment] Signed Up` (event time " in lines[1]
    assert any(line.strip().endswith("Confirm said go (1 address: email).") for line in lines)
    assert lines[-1].strip().endswith("Sent.")


async def test_never_entered_names_the_trigger_and_when_the_user_last_did_it(suite):
    await suite.apply(WELCOME)
    await suite.segment("identify", userId="bea", traits={"email": "bea@example.com"})
    await suite.segment("track", userId="bea", event="Order Completed", messageId="o-1")

    async def recorded() -> bool:
        found = await suite.ingest.list_user_events(WORKSPACE, "bea", name="[Segment] Order Completed")
        return len(found.events) == 1

    await suite.wait_until(recorded)
    await suite.apply(ORDERS)  # after the order: the user never entered it
    code, out, err = await suite.herald("explain", "bea", "--campaign", "After an order", "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["entries"] == []
    never = document["never_entered"]
    assert (never["campaign"], never["trigger_event"]) == ("After an order", "[Segment] Order Completed")
    assert never["last_trigger_at"].endswith("+00:00")
    code, out, _ = await suite.herald("explain", "bea", "--campaign", "Welcome")
    assert code == 0
    assert out.strip() == "'bea' never entered 'Welcome': the user never did its trigger event `[Segment] Signed Up`."


async def test_an_unknown_user_or_campaign_is_one_line_naming_it_and_a_non_zero_exit(suite):
    await suite.apply(WELCOME)
    await suite.segment("identify", userId="cal", traits={"email": "cal@example.com"})
    code, out, err = await suite.herald("explain", "nobody-here")
    assert code != 0 and out == "" and "'nobody-here'" in err and len(err.strip().splitlines()) == 1
    code, out, err = await suite.herald("explain", "cal", "--campaign", "No such campaign")
    assert code != 0 and out == "" and "'No such campaign'" in err


async def test_users_delete_removes_the_decision_steps_and_fails_until_delivery_can_be_asked(suite):
    await suite.apply(WELCOME)
    for user in ("dee", "eli"):
        await suite.segment("identify", userId=user, traits={"email": f"{user}@example.com"})
        await suite.segment("track", userId=user, event="Signed Up", messageId=f"s-{user}")
    await suite.sent("dee")
    await suite.sent("eli")
    dee = (await suite.campaign.explain(WORKSPACE, "dee")).profile_ids
    eli = (await suite.campaign.explain(WORKSPACE, "eli")).profile_ids
    assert suite.campaign_steps(list(dee)) and (await suite.delivery.explain(WORKSPACE, list(dee))).steps

    await suite.running["delivery"].stop()
    code, _, err = await suite.herald("users", "delete", "dee")
    assert code != 0 and "delivery" in err and "run the deletion again" in err
    code, out, _ = await suite.herald("users", "show", "dee", "--json")
    assert code == 0 and json.loads(out)["user_id"] == "dee"  # not deleted yet

    suite.running["delivery"] = await build_delivery(suite.settings)
    await suite.running["delivery"].start()

    async def deleted() -> bool:  # identity's channel to delivery reconnects after its backoff
        code, _, err = await suite.herald("users", "delete", "dee")
        assert code == 0 or "run the deletion again" in err, err
        return code == 0

    await suite.wait_until(deleted)
    assert suite.campaign_steps(list(dee)) == []
    assert list((await suite.delivery.explain(WORKSPACE, list(dee))).steps) == []
    assert suite.campaign_steps(list(eli)) and (await suite.delivery.explain(WORKSPACE, list(eli))).steps
    code, _, err = await suite.herald("explain", "dee")
    assert code != 0 and "'dee'" in err
