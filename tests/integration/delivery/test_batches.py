"""The batch paths: ConfirmBatch per claim batch, MarkSentBatch for reports, and the bulk writes
(every send's 'sending', finish and acknowledgement of a group in one statement each), which
still skip a send another replica took over."""

from __future__ import annotations

from datetime import timedelta

from herald_services.delivery import handlers
from herald_services.delivery.handlers import AddressResult
from herald_services.delivery.store import ADDRESS, REPORT, SEND
from sqlalchemy import func, select, update

from tests.integration.delivery.conftest import START, send


async def test_sends_due_together_are_confirmed_and_reported_in_batch_calls(delivery):
    await delivery.schedule(*[send(f"b{i}") for i in range(40)])
    await delivery.drain()
    await delivery.campaign.wait_until(lambda: len(delivery.campaign.latest) == 40)
    await delivery.dispatcher.reports.settled()
    assert sorted(delivery.provider.sends()) == sorted(f"b{i}" for i in range(40))
    assert sum(delivery.campaign.confirm_batches) == 40 and len(delivery.campaign.confirm_batches) <= 2
    assert sum(delivery.campaign.mark_batches) == 40 and len(delivery.campaign.mark_batches) < 40
    assert set(delivery.campaign.statuses().values()) == {"sent"}
    with delivery.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(REPORT)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(ADDRESS).where(ADDRESS.c.status == "accepted")).scalar_one() == 40


async def test_a_confirm_batch_answers_each_send_on_its_own(delivery):
    delivery.campaign.confirm_errors = {"nf": "not_found", "un": "unavailable: identity could not be asked"}
    await delivery.schedule(send("nf"), send("un"), send("ok"))
    await delivery.drain()
    nf, un, ok = [await delivery.client.get_send(name) for name in ("nf", "un", "ok")]
    assert (nf.status, nf.outcome) == ("suppressed", "campaign does not know this send")
    assert (un.status, un.outcome) == ("scheduled", "waiting for campaign: identity could not be asked")
    assert ok.status == "sent" and delivery.provider.sends() == ["ok"]
    delivery.campaign.confirm_errors = {}
    await delivery.advance(seconds=6)
    assert (await delivery.client.get_send("un")).status == "sent"
    assert sorted(delivery.provider.sends()) == ["ok", "un"]
    await delivery.campaign.wait_until(lambda: delivery.campaign.statuses() == {"nf": "suppressed", "ok": "sent", "un": "sent"})


async def test_a_confirm_batch_that_fails_as_a_whole_asks_again_later(delivery):
    delivery.campaign.down = True
    await delivery.schedule(send("d1"), send("d2"))
    await delivery.drain()
    assert delivery.provider.calls == []
    got = await delivery.client.get_send("d1")
    assert got.status == "scheduled" and got.outcome == "waiting for campaign: UNAVAILABLE"
    delivery.campaign.down = False
    await delivery.advance(seconds=6)
    assert sorted(delivery.provider.sends()) == ["d1", "d2"]


async def test_a_report_of_a_send_campaign_does_not_know_is_dropped(delivery):
    delivery.campaign.unknown = {"ghost"}
    await delivery.schedule(send("ghost"), send("known"))
    await delivery.drain()
    await delivery.campaign.wait_until(lambda: "known" in delivery.campaign.latest)
    await delivery.dispatcher.reports.settled()
    assert "ghost" not in delivery.campaign.latest and delivery.dispatcher.reports.dropped == 1
    with delivery.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(REPORT)).scalar_one() == 0


def _claim_three(delivery):
    with delivery.engine.begin() as connection:
        claimed = handlers.claim(connection, owner="a", now=START + timedelta(hours=1), lease_until=START + timedelta(hours=2), limit=10)
        assert sorted(r["id"] for r in claimed) == ["t0", "t1", "t2"]
        # t1's lease was taken over by another replica.
        connection.execute(update(SEND).where(SEND.c.id == "t1").values(claimed_by="b"))


async def test_bulk_writes_skip_a_send_another_replica_took_over(delivery):
    await delivery.schedule(*[send(f"t{i}", delay=1800) for i in range(3)])
    _claim_three(delivery)
    now = START + timedelta(hours=1)
    with delivery.engine.begin() as connection:
        started = handlers.start_sending_many(
            connection,
            [dict(send_id=f"t{i}", owner="a", now=now, positions=[0], message='{"channel": "email"}',
                  addresses=[("email", f"t{i}@example.com")]) for i in range(3)],
        )
        assert started == [True, False, True]
        settled = handlers.settle_many(
            connection,
            [dict(send_id=f"t{i}", owner="a", now=now, results=[AddressResult(0, "accepted", 1, "250 ok", sent_at=now)],
                  status="sent", outcome="250 ok", sent_at=now, due_at=now, report_next_at=now) for i in (0, 2)],
        )
        assert [r.send_id for r in settled] == ["t0", "t2"]
        finished = handlers.finish_many(
            connection,
            [dict(send_id=f"t{i}", owner="a", status="suppressed", outcome="x", now=now, due_at=now, report_next_at=now)
             for i in range(3)],
        )
        assert finished == [None, None, None]  # t0, t2 are no longer claimed; t1 is b's
        rows = dict(connection.execute(select(SEND.c.id, SEND.c.status)).all())
        reports = set(connection.execute(select(REPORT.c.send_id)).scalars())
        addresses = set(connection.execute(select(ADDRESS.c.send_id)).scalars())
    assert rows == {"t0": "sent", "t1": "claimed", "t2": "sent"}
    assert reports == {"t0", "t2"} and addresses == {"t0", "t2"}
