"""Tells campaign each send's outcome (MarkSent), durably, retried until acknowledged.

A report is committed in the same transaction as the outcome it tells (``send_report``, one
row per send), with its next try set a lease ahead; this process then hands it to campaign at
once from memory. Acknowledged: its row is deleted (only if no newer outcome replaced it).
Refused or unreachable: its next try moves out with exponential backoff. Rows whose next try
is due (a failure's backoff ran out, or the process that held them stopped) are picked up by
the periodic poll, so a report survives restarts and campaign outages.
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
        concurrency: int = 64,
        max_backoff: float = 60.0,
        everything_at_start: bool = False,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.writer = writer  # the dispatcher's GroupCommit: acks share transactions with other writes
        self.clock = clock
        self.campaign = campaign
        self.max_backoff = max_backoff
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task] = set()
        self._polling = False
        self._first_poll = everything_at_start
        self.acknowledged = 0
        self.blocked_until: datetime | None = None

    def next_at(self, now: datetime) -> datetime:
        """When a report just committed becomes the poll's, if memory does not hand it over."""
        return now + LEASE

    def hand_over(self, reports: Iterable[Report | None]) -> None:
        """Reports just committed: sent to campaign now, from memory."""
        for report in reports:
            if report is not None:
                self._spawn(self._send(report))

    def poll(self) -> None:
        if not self._polling:
            self._spawn(self._poll())

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
                results = await asyncio.gather(*(self._send(r) for r in reports))
                if not all(results) or len(reports) < BATCH:
                    return
        finally:
            self._polling = False

    def _take(self, now: datetime, everything: bool) -> list[Report]:
        with self.engine.begin() as connection:
            return handlers.take_due_reports(connection, now=now, lease_until=now + LEASE, limit=BATCH, everything=everything)

    async def _send(self, report: Report) -> bool:
        async with self._slots:
            now = self.clock.now()
            if self.blocked_until is not None and now < self.blocked_until:
                delay = (self.blocked_until - now).total_seconds()
                error = None
            else:
                try:
                    await self.campaign.mark_sent(mark_request(report))
                except grpc.aio.AioRpcError as failure:
                    error = failure
                    delay = backoff_seconds(report.attempts + 1, cap=self.max_backoff)
                    self.blocked_until = now + timedelta(seconds=min(delay, 5.0))
                    log.warning("mark_sent_failed", send_id=report.send_id, code=failure.code().name,
                                attempts=report.attempts + 1, retry_in=round(delay, 2))
                else:
                    self.blocked_until = None
                    self.acknowledged += 1
                    await self.writer.submit((handlers.acknowledge_reports, {"acknowledged": [(report.send_id, report.token)]}))
                    return True
            attempts = report.attempts + (1 if error is not None else 0)
            await self.writer.submit(
                (handlers.postpone_reports,
                 {"postponed": [(report.send_id, report.token, attempts, now + timedelta(seconds=delay))]})
            )
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
