"""The one timer of delivery: APScheduler (AsyncIOScheduler) wakes the dispatcher.

Sends live in the database, not in the scheduler: there is ONE date job, re-armed to the
earliest wake time of any scheduled send (never one job per send), and a modest interval job
that also wakes the dispatcher, so sends another replica scheduled, expired leases and clock
drift are covered. Times come from the service's clock (a FakeClock in tests), translated to
the wall clock APScheduler runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from herald_common.clock import Clock

WAKE_JOB = "wake"
POLL_JOB = "poll"


class Timer:
    def __init__(self, *, clock: Clock, on_wake: Callable[[], None], on_poll: Callable[[], None], poll_seconds: float) -> None:
        self.clock = clock
        self.on_wake = on_wake
        self.on_poll = on_poll
        self.poll_seconds = poll_seconds
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.armed_for: datetime | None = None  # the clock time the wake job is set for

    def start(self) -> None:
        self.scheduler.start()
        self.scheduler.add_job(
            self._poll, "interval", seconds=self.poll_seconds, id=POLL_JOB, coalesce=True, max_instances=1,
            misfire_grace_time=None,
        )

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def arm(self, at: datetime | None, *, only_if_earlier: bool = False) -> None:
        """Sets the wake job to the clock time at (None: nothing is waiting)."""
        if not self.scheduler.running:
            return
        if only_if_earlier and self.armed_for is not None and at is not None and at >= self.armed_for:
            return
        if at is None:
            if self.armed_for is not None:
                self.armed_for = None
                if self.scheduler.get_job(WAKE_JOB) is not None:
                    self.scheduler.remove_job(WAKE_JOB)
            return
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        run_date = datetime.now(UTC) + max(timedelta(0), at - self.clock.now())
        self.armed_for = at
        self.scheduler.add_job(
            self._fire, "date", run_date=run_date, id=WAKE_JOB, replace_existing=True, misfire_grace_time=None,
            coalesce=True,
        )

    async def _fire(self) -> None:
        # A coroutine: AsyncIOExecutor runs it on the loop (a plain function would run in a thread).
        self.armed_for = None
        self.on_wake()

    async def _poll(self) -> None:
        self.on_poll()
