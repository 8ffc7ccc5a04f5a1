"""Tells campaign each send's outcome (MarkSent), durably, retried until acknowledged.

A report is committed in the same transaction as the outcome it tells (``send_report``, one
row per send), with its next try set a lease ahead; this process then hands it to campaign at
once from memory. Reports go in MarkSentBatch calls: those handed over while a call is on its
way wait and go together in the next one. Acknowledged: its row is deleted (only if no newer
outcome replaced it); a send campaign does not know is listed back and its report dropped the
same way. The call refused or unreachable: each report's next try moves out with exponential
backoff. Rows whose next try is due (a failure's backoff ran out, or the process that held them
stopped) are picked up by the periodic poll, so a report survives restarts and campaign outages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta

import grpc
import structlog
from herald.campaign.v1 import campaign_pb2
from herald_common.clients import CampaignClient
from herald_common.clock import Clock
from herald_common.protoconv import set_timestamp
from herald_services.delivery import handlers
from herald_services.delivery.handlers import Report
from herald_services.delivery.providers.base import backoff_seconds
from herald_services.delivery.store import FAILED
from sqlalchemy import Engine

log = structlog.get_logger(__name__)

LEASE = timedelta(seconds=60)  # a report handed over from memory is the poll's again after this
BATCH = 500
# A report handed over waits this long for others to share its MarkSentBatch call: campaign
# learns outcomes a few milliseconds later, in a tenth of the calls.
LINGER_SECONDS = 0.02


def mark_request(report: Report) -> campaign_pb2.MarkSentRequest:
    request = campaign_pb2.MarkSentRequest(
        send_id=report.send_id, status=report.status, outcome=report.outcome, failed=report.status == FAILED
    )
    set_timestamp(request.sent_at, report.sent_at)
    set_timestamp(request.due_at, report.due_at)
    return request


class ReportSender:
    def __init__(
        self,
        *,
        engine: Engine,
        runner,
        writer,
        clock: Clock,
        campaign: CampaignClient,
        concurrency: int = 2,
        max_backoff: float = 60.0,
        everything_at_start: bool = False,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.writer = writer  # the dispatcher's GroupCommit: acks share transactions with other writes
        self.clock = clock
        self.campaign = campaign
        self.max_backoff = max_backoff
        self.concurrency = max(1, concurrency)  # MarkSentBatch calls on their way at once
        self.linger = linger
        self._queue: list[Report] = []
        self._senders = 0
        self._tasks: set[asyncio.Task] = set()
        self._polling = False
        self._first_poll = everything_at_start
        self.acknowledged = 0
        self.dropped = 0  # reports of sends campaign did not know
        self.blocked_until: datetime | None = None

    def next_at(self, now: datetime) -> datetime:
        """When a report just committed becomes the poll's, if memory does not hand it over."""
        return now + LEASE

    def hand_over(self, reports: Iterable[Report | None]) -> None:
        """Reports just committed: sent to campaign now, from memory, in batches."""
        self._queue.extend(report for report in reports if report is not None)
        while self._queue and self._senders < self.concurrency:
            self._senders += 1
            self._spawn(self._flush())

    def poll(self) -> None:
        if not self._polling:
            self._spawn(self._poll())

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(self.linger)  # let reports committed meanwhile join the call
            while self._queue:
                batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                await self._send(batch)
        finally:
            self._senders -= 1

    async def _poll(self) -> None:
        self._polling = True
        try:
            while True:
                now = self.clock.now()
                if self.blocked_until is not None and now < self.blocked_until:
                    return
                everything, self._first_poll = self._first_poll, False
                reports = await self.runner.run(self._take, now, everything)
                if not reports:
                    return
                if not await self._send(reports) or len(reports) < BATCH:
                    return
        finally:
            self._polling = False

    def _take(self, now: datetime, everything: bool) -> list[Report]:
        with self.engine.begin() as connection:
            return handlers.take_due_reports(connection, now=now, lease_until=now + LEASE, limit=BATCH, everything=everything)

    async def _send(self, reports: list[Report]) -> bool:
        """One MarkSentBatch call; True when campaign acknowledged it."""
        now = self.clock.now()
        if self.blocked_until is not None and now < self.blocked_until:
            delay = (self.blocked_until - now).total_seconds()
            postponed = [(r.send_id, r.token, r.attempts, now + timedelta(seconds=delay)) for r in reports]
        else:
            try:
                response = await self.campaign.mark_sent_batch([mark_request(r) for r in reports])
            except grpc.aio.AioRpcError as failure:
                postponed = []
                for r in reports:
                    delay = backoff_seconds(r.attempts + 1, cap=self.max_backoff)
                    postponed.append((r.send_id, r.token, r.attempts + 1, now + timedelta(seconds=delay)))
                first = backoff_seconds(min(r.attempts for r in reports) + 1, cap=self.max_backoff)
                self.blocked_until = now + timedelta(seconds=min(first, 5.0))
                log.warning("mark_sent_failed", reports=len(reports), code=failure.code().name,
                            attempts=min(r.attempts for r in reports) + 1)
            else:
                self.blocked_until = None
                unknown = set(response.unknown_send_ids)
                if unknown:
                    log.warning("mark_sent_unknown_sends", sends=sorted(unknown)[:20], count=len(unknown))
                self.dropped += sum(1 for r in reports if r.send_id in unknown)
                self.acknowledged += sum(1 for r in reports if r.send_id not in unknown)
                await self.writer.submit(
                    (handlers.acknowledge_reports, {"acknowledged": [(r.send_id, r.token) for r in reports]})
                )
                return True
        await self.writer.submit((handlers.postpone_reports, {"postponed": postponed}))
        return False

    async def settled(self) -> None:
        """Waits until every report handed over has been acknowledged or postponed (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
