"""Takes due sends out of the database and sends each once.

The loop: when the timer fires (or the poll, a Schedule, a Release), claim due sends in
batches (a status change in the database, so a send is dispatched by one replica only), at
most ``concurrency`` sends in flight. The sends of a claim batch that need a first attempt are
confirmed with one ConfirmBatch call; then each send goes its own way as its own task:

1. stale (overdue past HERALD_STALE_AFTER): suppressed, campaign not asked;
2. ``Confirm``: hold -> held until Release; no -> suppressed with campaign's reason;
   unreachable -> looked at again shortly (no provider attempt is spent);
3. go -> the window is read in the user's zone as campaign has it now (else the fallback,
   else the default): none at all -> suppressed no_timezone; closed -> scheduled again at its
   next opening (campaign is told the new due time);
4. open -> 'sending' is written for the send and each address, then every address is sent
   to concurrently, each result recorded per address. Retryable answers are tried again with
   backoff (only the addresses not yet done) up to provider_max_attempts; the send is sent
   when at least one address accepted, else failed with the provider's reason.

Writes of concurrent tasks share transactions (a GroupCommit that lingers a few milliseconds
to gather more), and writes of the same kind in a group run as one statement for all of them
(handlers.BULK: every send's 'sending', every finish, every report acknowledged); every
outcome's MarkSent report is committed with it and handed to the ReportSender.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import uuid
from datetime import datetime, time, timedelta
from typing import Any

import grpc
import orjson
import structlog
from herald_common import metrics
from herald_common.aio import GroupCommit
from herald_common.clients import CampaignClient, IdentityClient
from herald_common.clock import Clock
from herald_common.settings import Settings
from herald_services.delivery import explain as explaining
from herald_services.delivery import handlers
from herald_services.delivery.caps import QUIET_HOURS, NO_POLICY, CapRule, Policy, QuietHours, quiet_hours_zone
from herald_services.delivery.domain import NO_TIMEZONE, choose_timezone, is_stale, recompute_due
from herald_services.delivery.handlers import AddressResult, Report
from herald_services.delivery.providers.base import (
    Address,
    Attempt,
    Message,
    ProviderSet,
    backoff_seconds,
)
from herald_services.delivery.reports import ReportSender
from herald_services.delivery.store import (
    ADDRESS_ACCEPTED,
    ADDRESS_FAILED,
    ADDRESS_FINAL,
    ADDRESS_GONE,
    ADDRESS_RETRY,
    CLAIMED,
    FAILED,
    HELD_OUT,
    SENDING,
    SENT,
    SUPPRESSED,
)
from herald_services.delivery.timer import Timer
from herald_common.steps import StepLog
from herald_services.delivery.store import STEP
from sqlalchemy import Engine

log = structlog.get_logger(__name__)

CONFIRM_RETRY = timedelta(seconds=5)  # campaign unreachable: ask again after this
AFTER_ERROR = timedelta(seconds=30)
CONFIRM_BATCH = 500  # send ids in one ConfirmBatch call
WRITE_LINGER_SECONDS = 0.01
SLOT_RETENTION = timedelta(days=32)  # longer than any cap's window (at most 31 days)  # a group commit waits this long for more writes to share it


class LingeringGroupCommit(GroupCommit):
    """A GroupCommit that waits a moment before each group, so writes of sends finishing a few
    milliseconds apart share one transaction (one fsync) and their bulk statements. On SQLite
    the database work runs on the loop's thread, where nothing would arrive during a commit."""

    def __init__(self, runner, work, *, max_items: int, linger: float) -> None:
        super().__init__(runner, work, max_items=max_items)
        self.linger = linger

    async def _drain(self) -> None:
        try:
            while self._pending:
                if self.linger and len(self._pending) < self.max_items:
                    await asyncio.sleep(self.linger)
                group, self._pending = self._pending[: self.max_items], self._pending[self.max_items :]
                await self._commit(group)
        finally:
            self._draining = False


def default_replica_id() -> str:
    return os.environ.get("HERALD_DELIVERY_REPLICA_ID") or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def message_json(answer) -> str:
    message = answer.message
    return orjson.dumps(
        {
            "channel": message.channel,
            "subject": message.subject,
            "body": message.body,
            "html": message.html,
            "title": message.title,
            "data_json": message.data_json.decode() if message.data_json else "",
            "url": message.url,
        }
    ).decode()


def message_of(send_id: str, text: str) -> Message:
    fields = orjson.loads(text)
    data_json = fields.pop("data_json", "")
    return Message(send_id=send_id, data=orjson.loads(data_json) if data_json else None, **fields)


def message_from(send_id: str, answer) -> Message:
    """The Message of a Confirm answer (what message_of(message_json(answer)) gives)."""
    message = answer.message
    return Message(
        send_id=send_id, channel=message.channel, subject=message.subject, body=message.body, html=message.html,
        title=message.title, data=orjson.loads(message.data_json) if message.data_json else None, url=message.url,
    )


@functools.lru_cache(maxsize=512)
def _policy(serialized: bytes) -> Policy:
    from herald.campaign.v1 import campaign_pb2

    policy = campaign_pb2.SendPolicy.FromString(serialized)
    caps = tuple(
        CapRule(channel=cap.channel, max=cap.max, per=None if cap.calendar_day else timedelta(seconds=cap.per_seconds))
        for cap in policy.frequency_caps
    )
    quiet = None
    if policy.HasField("quiet_hours"):
        quiet = QuietHours(start=_clock(policy.quiet_hours.start), end=_clock(policy.quiet_hours.end),
                           fallback_timezone=policy.quiet_hours.fallback_timezone or None)
    return Policy(caps=caps, quiet_hours=quiet, transactional=policy.transactional, on_cap=policy.on_cap or "suppress")


def _clock(text: str):
    hours, minutes = (int(part) for part in text.split(":"))
    return time(0, 0) if hours == 24 else time(hours, minutes)


def policy_of(answer) -> Policy:
    """The limits a Confirm answer hands delivery for its send (none when campaign sent none)."""
    if not answer.HasField("policy"):
        return NO_POLICY
    return _policy(answer.policy.SerializeToString())


class Dispatcher:
    def __init__(
        self,
        *,
        engine: Engine,
        runner,
        clock: Clock,
        settings: Settings,
        campaign: CampaignClient,
        identity: IdentityClient,
        providers: ProviderSet,
        replica_id: str | None = None,
        concurrency: int = 256,
        poll_seconds: float = 5.0,
        lease_seconds: float | None = None,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.clock = clock
        self.settings = settings
        self.campaign = campaign
        self.identity = identity
        self.providers = providers
        self.owner = replica_id or default_replica_id()
        self.concurrency = concurrency
        self.stale_after = timedelta(seconds=settings.stale_after_seconds)
        self.explain = settings.explain  # record decision steps (HERALD_EXPLAIN)
        # A claim outlives the longest dispatch (Confirm, then every address at once) with room.
        self.lease = timedelta(
            seconds=lease_seconds or 2 * (settings.rpc_timeout_seconds + settings.provider_timeout_seconds) + 60
        )
        self.single_owner = engine.dialect.name == "sqlite"
        self.writer = LingeringGroupCommit(runner, self._write_group, max_items=512, linger=WRITE_LINGER_SECONDS)
        self.reports = ReportSender(
            engine=engine, runner=runner, writer=self.writer, clock=clock, campaign=campaign,
            everything_at_start=self.single_owner,
        )
        self.timer = Timer(clock=clock, on_wake=self.wake, on_poll=self._on_poll, poll_seconds=poll_seconds)
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task] = set()
        self._sends_in_flight = 0  # claimed by this replica and not done yet
        self._draining = asyncio.Lock()
        self._finished = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._polls = 0
        self.dispatched = 0  # sends this replica claimed
        self.provider_calls = 0

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.timer.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="delivery-dispatcher")

    async def stop(self, grace: float = 5.0) -> None:
        """A clean stop: no new claims, in-flight sends get `grace` seconds to finish, claims
        that never reached a provider go back at once."""
        self.timer.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=grace)
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        await self.reports.stop()
        await self.runner.run(self._unclaim)

    async def kill(self) -> None:
        """Stops as a crash would (tests): nothing is finished, released or written."""
        self.timer.stop()
        tasks = [t for t in (self._task, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.reports.stop()

    def wake(self) -> None:
        self._wake.set()

    def _on_poll(self) -> None:
        self._polls += 1
        self.wake()
        self.reports.poll()
        if self._polls % 6 == 0:  # leases expire rarely: look for stranded sends every few polls
            asyncio.get_running_loop().create_task(self._recover(startup=False))
            asyncio.get_running_loop().create_task(self._measure_backlog())
        if self._polls % 60 == 0:
            asyncio.get_running_loop().create_task(self._prune_slots())
            asyncio.get_running_loop().create_task(self._prune_steps_quietly())

    async def prune_steps(self) -> int:
        """One round of the retention prune: delivery steps older than HERALD_EXPLAIN_RETENTION
        (by this service's clock) go, a bounded number of rows per round."""
        retention = self.settings.explain_retention_seconds

        def prune():
            with self.engine.begin() as connection:
                return explaining.prune(connection, now=self.clock.now(), retention_seconds=retention)

        return await self.runner.run(prune)

    async def _prune_steps_quietly(self) -> None:
        try:
            deleted = await self.prune_steps()
        except Exception:  # the next round tries again
            log.warning("delivery_steps_not_pruned", exc_info=True)
            return
        if deleted:
            log.info("delivery_steps_pruned", rows=deleted)

    async def _prune_slots(self) -> None:
        """Cap slots older than the longest window a cap may have are never read again."""
        def prune():
            with self.engine.begin() as connection:
                return handlers.prune_slots(connection, before=self.clock.now() - SLOT_RETENTION)

        try:
            await self.runner.run(prune)
        except Exception:  # the next round tries again
            log.warning("cap_slots_not_pruned", exc_info=True)

    async def _measure_backlog(self) -> None:
        """The scheduler backlog gauge (sends not yet finished), every few polls: a count over
        a million pending rows is not free."""
        def count():
            with self.engine.connect() as connection:
                return handlers.backlog(connection)

        try:
            metrics.set_scheduler_backlog(await self.runner.run(count))
        except Exception:  # a metric is never worth failing dispatch for
            log.warning("backlog_not_measured", exc_info=True)

    def scheduled(self, earliest: datetime | None) -> None:
        """New sends were kept: wake earlier if one is due before the timer."""
        if earliest is None:
            return
        if earliest <= self.clock.now():
            self.wake()
        else:
            self.timer.arm(earliest, only_if_earlier=True)

    # ---- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        await self._recover(startup=True)
        self.reports.poll()
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatch_loop_failed")
                await asyncio.sleep(1.0)
                self.wake()

    async def drain(self, *, wait: bool = False) -> None:
        """Claims and starts every send due now (the timer's work); wait: until they are done."""
        async with self._draining:  # one claim loop at a time (the timer's, a test's)
            await self._claim_due()
        if wait:
            while self._inflight:
                await asyncio.gather(*list(self._inflight), return_exceptions=True)
                async with self._draining:
                    await self._claim_due()
        earliest = await self.runner.run(self._earliest)
        self.timer.arm(earliest)

    async def _claim_due(self) -> None:
        low_water = max(1, self.concurrency // 4)
        while True:
            room = self.concurrency - self._sends_in_flight
            if room < low_water and self._sends_in_flight:
                self._finished.clear()
                await self._finished.wait()  # a dispatch finished (cheaper than asyncio.wait on all)
                continue
            now = self.clock.now()
            rows = await self.runner.run(self._claim, now, room)
            if rows:
                self._sends_in_flight += len(rows)
                self._spawn(self._dispatch_batch(rows))
            self.dispatched += len(rows)
            if len(rows) < room:
                return

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return task

    def _send_done(self) -> None:
        self._sends_in_flight -= 1
        self._finished.set()

    def _claim(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        with self.engine.begin() as connection:
            return handlers.claim(connection, owner=self.owner, now=now, lease_until=now + self.lease, limit=limit)

    def _earliest(self) -> datetime | None:
        with self.engine.connect() as connection:
            return handlers.earliest_wake(connection)

    def _unclaim(self) -> None:
        with self.engine.begin() as connection:
            handlers.unclaim(connection, owner=self.owner, now=self.clock.now())

    async def _recover(self, *, startup: bool) -> None:
        def work():
            with self.engine.begin() as connection:
                # Only at start are this replica id's claims a previous life's: later they are in flight.
                return handlers.recover(connection, now=self.clock.now(), owner=self.owner if startup else None,
                                        everything=startup and self.single_owner, explain=self.explain)

        requeued, reports = await self.runner.run(work)
        if requeued or reports:
            log.warning("recovered_stranded_sends", requeued=requeued, settled=len(reports),
                        unknown=sum(1 for r in reports if r.status != SENT))
            self.reports.hand_over(reports)
            self.wake()

    def _write_group(self, items: list[tuple]) -> list[Any]:
        """One transaction for the group; writes of a kind with a bulk form run together. The
        decision steps of each write that took effect go in with it (a write that found the
        send no longer this replica's answers None or False, and records nothing)."""
        results: list[Any] = [None] * len(items)
        bulk: dict[Any, list[int]] = {}
        with self.engine.begin() as connection:
            for index, (fn, kwargs, *_) in enumerate(items):
                if fn in handlers.BULK:
                    bulk.setdefault(fn, []).append(index)
                else:
                    results[index] = fn(connection, **kwargs)
            for fn, indexes in bulk.items():
                answers = handlers.BULK[fn](connection, [items[i][1] for i in indexes])
                for index, answer in zip(indexes, answers):
                    results[index] = answer
            recorded = StepLog(self.explain)
            for item, result in zip(items, results):
                steps = item[2] if len(item) > 2 else None  # the report sender's writes have none
                if steps and result is not None and result is not False:
                    recorded.extend(steps)
            recorded.write(connection, STEP)
        return results

    async def _write(self, fn, steps: StepLog | None = None, **kwargs) -> Any:
        return await self.writer.submit((fn, kwargs, steps))

    def _steps(self, row: dict[str, Any]) -> SendSteps:
        return SendSteps(row, enabled=self.explain)

    # ---- one send ---------------------------------------------------------------------------

    async def _dispatch_batch(self, rows: list[dict[str, Any]]) -> None:
        """A claim batch: the sends needing a first attempt are confirmed in one call (the stale
        ones are not asked), then each send goes its own way concurrently."""
        now = self.clock.now()
        first, asked = [], []
        for row in rows:
            if row["message"] is None:
                if is_stale(row["due_at"], now, self.stale_after):
                    first.append((row, None))
                else:
                    asked.append(row)
        answers = []
        if asked:
            try:
                answers = await self._confirm_all([row["id"] for row in asked])
            except Exception:  # noqa: BLE001 - each send must still be settled (and counted done)
                log.exception("confirm_batch_failed", sends=len(asked))
                answers = ["unavailable: delivery could not ask campaign"] * len(asked)
        first.extend(zip(asked, answers))
        answer_of = {row["id"]: answer for row, answer in first}
        tasks = [self._spawn(self._dispatch(row, answer_of.get(row["id"]))) for row in rows]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _confirm_all(self, send_ids: list[str]) -> list[Any]:
        """ConfirmBatch for these sends: per send its ConfirmResponse, or an error text
        ("not_found", "unavailable: ..."); the whole call failing is every send unavailable."""
        answers: list[Any] = []
        for start in range(0, len(send_ids), CONFIRM_BATCH):
            chunk = send_ids[start : start + CONFIRM_BATCH]
            try:
                response = await self.campaign.confirm_batch(chunk)
            except grpc.aio.AioRpcError as error:
                log.warning("confirm_unreachable", sends=len(chunk), code=error.code().name)
                answers.extend([f"unavailable: {error.code().name}"] * len(chunk))
                continue
            results = {result.send_id: result for result in response.results}
            for send_id in chunk:
                result = results.get(send_id)
                if result is None:
                    answers.append("unavailable: campaign did not answer for this send")
                elif result.error:
                    answers.append(result.error)
                else:
                    answers.append(result.answer)
        return answers

    async def _dispatch(self, row: dict[str, Any], answer: Any = None) -> None:
        """One claimed send; answer: what campaign confirmed for a first attempt (None: stale)."""
        send_id = row["id"]
        sending = False
        try:
            if row["message"] is None:
                sending = await self._first_attempt(row, answer)
            else:
                addresses = row.get("addresses", [])
                targets = [a for a in addresses if a["status"] not in ADDRESS_FINAL]
                positions = [a["position"] for a in targets]
                started = await self._write(handlers.start_sending, send_id=send_id, owner=self.owner,
                                            now=self.clock.now(), positions=positions)
                if started:
                    sending = True
                    await self._send(row, message_of(send_id, row["message"]), addresses, positions)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("dispatch_failed", send_id=send_id)
            if not sending:  # no provider was called: it may go again later
                now = self.clock.now()
                await self._write(handlers.requeue, send_id=send_id, owner=self.owner, wake_at=now + AFTER_ERROR,
                                  now=now, from_status=CLAIMED)
            # Past 'sending' it stays so: its lease expires and it becomes unknown, never resent.
        finally:
            self._send_done()

    async def _finish(self, row, status: str, outcome: str, *, sent_at=None, from_status=CLAIMED,
                      steps: StepLog | None = None) -> None:
        now = self.clock.now()
        report = await self._write(
            handlers.finish, steps=steps, send_id=row["id"], owner=self.owner, status=status, outcome=outcome, now=now,
            due_at=row["due_at"], sent_at=sent_at, from_status=from_status,
            report_next_at=self.reports.next_at(now),
        )
        metrics.count_send(row.get("channel") or "unknown", status)
        self.reports.hand_over([report])

    async def _first_attempt(self, row: dict[str, Any], answer: Any) -> bool:
        """Stale (answer None), Confirm's answer (or its error text), window; True once the
        provider calls began."""
        send_id = row["id"]
        if answer is None:
            now = self.clock.now()
            steps = self._steps(row).record(now, "stale", "suppressed", {
                "due_at": row["due_at"], "overdue_seconds": round((now - row["due_at"]).total_seconds()),
                "stale_after_seconds": round(self.stale_after.total_seconds())})
            await self._finish(row, SUPPRESSED, "stale", steps=steps)
            return False
        if isinstance(answer, str):
            if answer == "not_found":
                await self._finish(row, SUPPRESSED, "campaign does not know this send")
                return False
            now = self.clock.now()
            reason = answer.removeprefix("unavailable: ")
            await self._write(handlers.requeue, send_id=send_id, owner=self.owner, wake_at=now + CONFIRM_RETRY, now=now,
                              outcome=f"waiting for campaign: {reason}")
            self.timer.arm(now + CONFIRM_RETRY, only_if_earlier=True)
            return False
        now = self.clock.now()
        if not answer.go:
            if answer.hold:
                steps = self._steps(row).record(now, "hold", "held", {"reason": answer.suppress_reason or "campaign_paused"})
                await self._write(handlers.hold, steps=steps, send_id=send_id, owner=self.owner,
                                  campaign_id=row["campaign_id"], asked_at=now, now=self.clock.now())
                return False
            await self._finish(row, SUPPRESSED, answer.suppress_reason or "suppressed by campaign")
            return False
        now = self.clock.now()
        decision = recompute_due(
            ready_at=row["ready_at"], now=now, window=handlers.window_of(row["window"]),
            user_timezone=answer.timezone or None, fallback_timezone=row["fallback_timezone"] or None,
            default_timezone=self.settings.default_timezone,
        )
        steps = self._steps(row) if self.explain else None
        if steps is not None and row["window"] is not None:
            steps.record(now, "window", window_outcome(decision, now), window_detail(row, decision))
        if decision.is_suppressed:
            await self._finish(row, SUPPRESSED, decision.suppressed, steps=steps)
            return False
        if decision.due_at > now:
            # The window is closed now in the user's (possibly new) zone: its next opening.
            report = await self._write(
                handlers.requeue, steps=steps, send_id=send_id, owner=self.owner, wake_at=decision.due_at, now=now,
                due_at=decision.due_at, timezone=decision.timezone or "",
                outcome=f"waiting for the delivery window in {decision.timezone}", report_next_at=self.reports.next_at(now),
            )
            if isinstance(report, Report):
                self.reports.hand_over([report])
            self.timer.arm(decision.due_at, only_if_earlier=True)
            return False
        policy = policy_of(answer)
        if policy.limits_hours:
            zone = quiet_hours_zone(user_timezone=answer.timezone or None, campaign_fallback=row["fallback_timezone"] or None,
                                    quiet=policy.quiet_hours, default_timezone=self.settings.default_timezone)
            if zone is None:
                if steps is not None:
                    steps.record(now, QUIET_HOURS, NO_TIMEZONE, quiet_detail(policy.quiet_hours, None, now, now))
                await self._finish(row, SUPPRESSED, NO_TIMEZONE, steps=steps)
                return False
            quiet_end = policy.quiet_hours.end_after(now, zone.zone)
            if steps is not None:
                steps.record(now, QUIET_HOURS, "moved" if quiet_end > now else "clear",
                             quiet_detail(policy.quiet_hours, zone, now, quiet_end))
            if quiet_end > now:
                report = await self._write(
                    handlers.requeue, steps=steps, send_id=send_id, owner=self.owner, wake_at=quiet_end, now=now,
                    due_at=quiet_end,
                    timezone=zone.name, outcome=f"waiting for quiet hours to end in {zone.name}",
                    report_next_at=self.reports.next_at(now),
                )
                if isinstance(report, Report):
                    self.reports.hand_over([report])
                self.timer.arm(quiet_end, only_if_earlier=True)
                return False
        addresses = [(a.kind, a.value) for a in answer.addresses]
        if not addresses:
            await self._finish(row, SUPPRESSED, "no_address", steps=steps)
            return False
        cap = None
        if policy.limits_caps:
            zone = choose_timezone(answer.timezone or None, row["fallback_timezone"] or None,
                                   policy.quiet_hours.fallback_timezone if policy.quiet_hours else None) \
                or choose_timezone(None, None, self.settings.default_timezone)
            cap = handlers.CapCheck(
                workspace_id=answer.workspace_id or row["workspace_id"], profile_id=row["profile_id"],
                channel=answer.message.channel or row["channel"], rules=policy.caps, zone=zone.zone if zone else None,
                on_cap=policy.on_cap, due_at=row["due_at"],
                defer_limit=row["due_at"] + self.stale_after if row["due_at"] is not None else None,
                report_next_at=self.reports.next_at(now), counts=not answer.held_out, steps=steps,
            )
        if answer.held_out:
            return await self._hold_out(row, answer, now, cap, steps)
        text = message_json(answer)
        started = await self._write(handlers.start_sending, steps=steps, send_id=send_id, owner=self.owner, now=now,
                                    positions=list(range(len(addresses))), message=text, addresses=addresses, cap=cap)
        if isinstance(started, handlers.Capped):
            if started.report is not None:
                self.reports.hand_over([started.report])
            if started.deferred:
                self.timer.arm(started.wake_at, only_if_earlier=True)
            else:
                metrics.count_send(row.get("channel") or "unknown", SUPPRESSED)
            return False
        if not started:
            return False
        rows = [{"position": i, "kind": k, "value": v, "status": "sending", "attempts": 0, "detail": "", "sent_at": None}
                for i, (k, v) in enumerate(addresses)]
        await self._send(row, message_from(send_id, answer), rows, list(range(len(addresses))), workspace_id=answer.workspace_id)
        return True

    async def _hold_out(self, row: dict[str, Any], answer: Any, now: datetime, cap, steps: SendSteps | None) -> bool:
        """A control group's send, due and allowed: everything but the provider call."""
        result = await self._write(handlers.hold_out, steps=steps, send_id=row["id"], owner=self.owner, now=now,
                                   due_at=row["due_at"], outcome="held out: control group, not sent",
                                   report_next_at=self.reports.next_at(now), cap=cap, recorder=steps)
        if isinstance(result, handlers.Capped):
            if result.report is not None:
                self.reports.hand_over([result.report])
            if result.deferred:
                self.timer.arm(result.wake_at, only_if_earlier=True)
            else:
                metrics.count_send(row.get("channel") or "unknown", SUPPRESSED)
            return False
        if isinstance(result, Report):
            metrics.count_send(row.get("channel") or "unknown", HELD_OUT)
            self.reports.hand_over([result])
        return False

    async def _attempt(self, message: Message, address: Address) -> Attempt:
        try:
            provider = self.providers.for_address(message.channel, address.kind)
        except LookupError as error:
            return Attempt("permanent", str(error))
        self.provider_calls += 1
        try:
            async with asyncio.timeout(self.settings.provider_timeout_seconds):  # no extra task, unlike wait_for
                with metrics.time_provider(provider.name):
                    return await provider.send(message, address)
        except TimeoutError:
            return Attempt("retry", f"{provider.name}: no answer within {self.settings.provider_timeout_seconds:g}s")
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - a provider's bug is a retryable attempt, not a lost send
            log.warning("provider_raised", provider=provider.name, error=repr(error))
            return Attempt("retry", f"{provider.name}: {type(error).__name__}: {error}")

    async def _send(self, row, message: Message, addresses: list[dict[str, Any]], positions: list[int], workspace_id: str = "") -> None:
        send_id = row["id"]
        by_position = {a["position"]: a for a in addresses}
        targets = [by_position[p] for p in positions]
        if len(targets) == 1:  # the common case: no gather (a task per address)
            attempts = [await self._attempt(message, Address(targets[0]["kind"], targets[0]["value"]))]
        else:
            attempts = await asyncio.gather(*(self._attempt(message, Address(a["kind"], a["value"])) for a in targets))
        now = self.clock.now()
        round_number = row["attempts"] + 1
        results, gone = [], []
        for target, attempt in zip(targets, attempts):
            tries = target["attempts"] + 1
            if attempt.outcome == "accepted":
                result = AddressResult(target["position"], ADDRESS_ACCEPTED, tries, attempt.detail, sent_at=now)
            elif attempt.outcome == "gone":
                result = AddressResult(target["position"], ADDRESS_GONE, tries, attempt.detail or "token gone")
                gone.append(target)
            elif attempt.outcome == "retry" and tries < self.settings.provider_max_attempts:
                result = AddressResult(target["position"], ADDRESS_RETRY, tries, attempt.detail, retry_after=attempt.retry_after)
            elif attempt.outcome == "retry":
                result = AddressResult(target["position"], ADDRESS_FAILED, tries, f"gave up after {tries} attempts: {attempt.detail}")
            else:
                result = AddressResult(target["position"], ADDRESS_FAILED, tries, attempt.detail or "refused")
            results.append(result)
            by_position[target["position"]] = {**target, "status": result.status, "detail": result.detail,
                                               "sent_at": result.sent_at or target.get("sent_at")}
        final = list(by_position.values())
        retrying = [r for r in results if r.status == ADDRESS_RETRY]
        accepted = [a for a in final if a["status"] == ADDRESS_ACCEPTED]
        steps = self._steps(row) if self.explain else None
        if retrying:
            retry_after = max((r.retry_after or 0.0 for r in retrying), default=0.0) or None
            wake_at = now + timedelta(seconds=backoff_seconds(round_number, retry_after=retry_after))
            if steps is not None:
                self._attempt_steps(steps, now, message.channel, targets, results, wake_at)
            outcome = await self._write(handlers.settle, steps=steps, send_id=send_id, owner=self.owner, now=now,
                                        results=results, wake_at=wake_at, outcome=f"retrying: {retrying[0].detail}")
        else:
            if accepted:
                status, sent_at = SENT, min(a["sent_at"] for a in accepted)
                text = accepted[0]["detail"] if len(final) == 1 else _summary(final)
            else:
                status, sent_at = FAILED, None
                text = final[0]["detail"] if len(final) == 1 else _summary(final)
            if steps is not None:
                self._attempt_steps(steps, now, message.channel, targets, results, None)
                steps.record(now, status, status, {"outcome": text[:500], "accepted": len(accepted),
                                                   "addresses": len(final)})
            outcome = await self._write(handlers.settle, steps=steps, send_id=send_id, owner=self.owner, now=now,
                                        results=results,
                                        status=status, outcome=text, sent_at=sent_at, due_at=row["due_at"],
                                        report_next_at=self.reports.next_at(now))
            metrics.count_send(message.channel, status)
        if isinstance(outcome, datetime):
            self.timer.arm(outcome, only_if_earlier=True)
        else:
            self.reports.hand_over([outcome])
        for target in gone:
            await self._remove_device(workspace_id or row["workspace_id"], target["kind"], target["value"])

    def _attempt_steps(self, steps: SendSteps, now: datetime, channel: str, targets: list[dict[str, Any]],
                       results: list[AddressResult], wake_at: datetime | None) -> None:
        """One `attempt` step per address called: the provider, its answer, and the retry delay."""
        for target, result in zip(targets, results):
            try:
                provider = self.providers.for_address(channel, target["kind"]).name
            except LookupError:
                provider = "none"
            detail: dict[str, Any] = {"provider": provider, "address": target["kind"], "attempt": result.attempts,
                                      "answer": result.detail[:500]}
            if result.status == ADDRESS_RETRY and wake_at is not None:
                detail["retry_in_seconds"] = round((wake_at - now).total_seconds(), 3)
            steps.record(now, "attempt", result.status, detail)

    async def _remove_device(self, workspace_id: str, kind: str, token: str) -> None:
        """A push token the provider reported gone leaves the user's devices (best effort: the
        next gone answer for the same token asks again)."""
        try:
            await self.identity.remove_device(workspace_id, kind, token)
        except grpc.aio.AioRpcError as error:
            log.warning("remove_device_failed", kind=kind, code=error.code().name)


def quiet_detail(quiet: QuietHours, zone, before: datetime, after: datetime) -> dict[str, Any]:
    """Quiet hours, the zone they were read in and where its name came from, the time before and after."""
    detail: dict[str, Any] = {"start": quiet.start.strftime("%H:%M"), "end": quiet.end.strftime("%H:%M"),
                              "before": before, "after": after}
    if zone is not None:
        detail["zone"] = zone.name
        detail["zone_source"] = getattr(zone, "source", "")
    return detail


def window_outcome(decision, now: datetime) -> str:
    if decision.is_suppressed:
        return decision.suppressed or "suppressed"
    return "moved" if decision.due_at > now else "open"


def window_detail(row: dict[str, Any], decision) -> dict[str, Any]:
    """The zone the window was read in, where its name came from, and the due time before and after."""
    detail: dict[str, Any] = {"window": orjson.loads(row["window"]), "due_before": row["due_at"],
                              "due_after": decision.due_at}
    if decision.timezone:
        detail["zone"] = decision.timezone
        detail["zone_source"] = decision.timezone_source
    if row.get("fallback_timezone"):
        detail["fallback_timezone"] = row["fallback_timezone"]
    return detail


class SendSteps(StepLog):
    """The steps of one send's write: a StepLog that knows the send."""

    __slots__ = ("_send",)

    def __init__(self, row: dict[str, Any], *, enabled: bool) -> None:
        super().__init__(enabled)
        self._send = row

    def record(self, at: datetime, step: str, outcome: str, detail: dict[str, Any] | None = None) -> SendSteps:
        row = self._send
        self.add(workspace_id=row["workspace_id"], profile_id=row["profile_id"], campaign_id=row["campaign_id"],
                 send_id=row["id"], at=at, step=step, outcome=outcome, detail=detail)
        return self


def _summary(addresses: list[dict[str, Any]]) -> str:
    accepted = sum(1 for a in addresses if a["status"] == ADDRESS_ACCEPTED)
    parts = [f"{accepted} of {len(addresses)} accepted"]
    for a in addresses:
        if a["status"] != ADDRESS_ACCEPTED:
            parts.append(f"{a['kind']} {a['value'][:12]}: {a['status']} {a['detail']}".strip())
    return "; ".join(parts)
