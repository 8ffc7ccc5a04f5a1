"""Runs the suite's processes: starts each, restarts one that dies (with backoff), stops them all.

Each child gets its own process group, so a Ctrl-C in the terminal reaches only `herald up`,
which then stops the children in order (the gateway before the services it calls).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from herald_cli.output import say

Probe = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Backoff:
    """Restart delays: initial, doubling up to maximum; a child that stayed up reset_after starts over."""

    initial: float = 0.5
    maximum: float = 30.0
    reset_after: float = 10.0

    def delay(self, failures: int) -> float:
        return min(self.initial * 2 ** max(failures - 1, 0), self.maximum)


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: tuple[str, ...]
    probe: Probe  # True once the child answers
    tier: int = 0  # stop() stops higher tiers first: callers before what they call
    env: tuple[tuple[str, str], ...] = ()  # added to the shared environment for this child


class StartupFailed(Exception):
    pass


@dataclass
class _Child:
    spec: ChildSpec
    process: asyncio.subprocess.Process | None = None
    task: asyncio.Task | None = None
    spawning: bool = False
    ready: bool = False  # answered at least once; only then is a death worth a restart
    failure: str | None = None  # why it ended before it was ever ready
    restarts: int = 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "an unknown status"
    if returncode < 0:
        try:
            return f"code {returncode} ({signal.Signals(-returncode).name})"
        except ValueError:
            pass
    return f"code {returncode}"


class Supervisor:
    def __init__(
        self,
        *,
        env: Mapping[str, str],
        backoff: Backoff = Backoff(),
        grace_seconds: float = 10.0,
        probe_interval: float = 0.1,
        report: Callable[[str], None] = say,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env = dict(env)
        self.backoff = backoff
        self.grace_seconds = grace_seconds
        self.probe_interval = probe_interval
        self.report = report
        self.monotonic = monotonic
        self._children: dict[str, _Child] = {}
        self._recovery_watchers: set[asyncio.Task] = set()
        self._stopping = False

    # ---- what tests and `herald up` look at ---------------------------------------------

    def pid(self, name: str) -> int | None:
        child = self._children.get(name)
        return child.process.pid if child is not None and child.alive else None

    def restarts(self, name: str) -> int:
        return self._children[name].restarts

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self, spec: ChildSpec) -> None:
        """Launches spec's process and keeps it running until stop()."""
        if self._stopping:
            raise RuntimeError("the supervisor is stopping")
        if spec.name in self._children:
            raise ValueError(f"{spec.name} is already supervised")
        child = _Child(spec)
        self._children[spec.name] = child
        child.task = asyncio.create_task(self._watch(child), name=spec.name)
        child.task.add_done_callback(self._report_crash)

    async def wait_ready(self, names: Iterable[str], timeout: float) -> None:
        """Returns once every named child answers its probe; StartupFailed if one dies or time runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = [self._children[name] for name in names]
        while pending:
            for child in pending:
                if child.failure is not None:
                    raise StartupFailed(f"{child.spec.name} {child.failure}")
            answers = await asyncio.gather(*(self._probe(child) for child in pending))
            for child, answered in zip(pending, answers):
                child.ready = child.ready or answered
            pending = [child for child in pending if not child.ready]
            if not pending:
                return
            if loop.time() >= deadline:
                waiting = ", ".join(child.spec.name for child in pending)
                raise StartupFailed(f"{waiting} did not answer within {timeout:g}s (its log is above)")
            await asyncio.sleep(self.probe_interval)

    async def stop(self) -> None:
        """SIGTERM each tier (highest first), wait the grace period, then SIGKILL what is left."""
        self._stopping = True
        for task in self._recovery_watchers:
            task.cancel()
        for tier in sorted({c.spec.tier for c in self._children.values()}, reverse=True):
            group = [c for c in self._children.values() if c.spec.tier == tier]
            for child in group:
                if child.alive:
                    _signal(child.process, signal.SIGTERM)
                elif not child.spawning and child.task is not None:
                    child.task.cancel()  # waiting out a restart delay
            tasks = [c.task for c in group if c.task is not None]
            if not tasks:
                continue
            _, pending = await asyncio.wait(tasks, timeout=self.grace_seconds)
            if pending:
                for child in group:
                    if child.alive:
                        self.report(f"herald: {child.spec.name} did not stop within {self.grace_seconds:g}s; killing it")
                        _signal(child.process, signal.SIGKILL)
                await asyncio.wait(pending)
        if self._recovery_watchers:
            await asyncio.wait(self._recovery_watchers)

    # ---- inside -----------------------------------------------------------------------------

    async def _probe(self, child: _Child) -> bool:
        if not child.alive:
            return False
        try:
            return await child.spec.probe()
        except Exception:  # a probe that cannot tell means: not yet
            return False

    async def _spawn(self, child: _Child) -> asyncio.subprocess.Process:
        child.spawning = True
        try:
            return await asyncio.create_subprocess_exec(
                *child.spec.argv,
                env={**self.env, **dict(child.spec.env)} if child.spec.env else self.env,
                stdin=subprocess.DEVNULL,
                process_group=0,
            )
        finally:
            child.spawning = False

    async def _watch(self, child: _Child) -> None:
        name = child.spec.name
        failures = 0
        while not self._stopping:
            started = self.monotonic()
            try:
                child.process = await self._spawn(child)
            except OSError as error:
                ended = f"could not be started: {error}"
            else:
                if self._stopping:  # stop() ran while this child was being spawned
                    _signal(child.process, signal.SIGTERM)
                    await child.process.wait()
                    return
                if child.restarts:
                    self._watch_recovery(child)
                ended = f"exited with {describe_exit(await child.process.wait())}"
            if self._stopping:
                return
            if not child.ready:
                child.failure = f"{ended} before it answered (its log is above)"
                return
            failures = 1 if self.monotonic() - started >= self.backoff.reset_after else failures + 1
            delay = self.backoff.delay(failures)
            self.report(f"herald: {name} {ended}; restarting in {delay:.1f}s")
            await asyncio.sleep(delay)
            child.restarts += 1

    def _report_crash(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.report(f"herald: supervising {task.get_name()} failed: {task.exception()!r}")

    def _watch_recovery(self, child: _Child) -> None:
        """Says when a restarted child answers again."""
        process = child.process

        async def watch() -> None:
            while process.returncode is None:
                if await self._probe(child):
                    self.report(f"herald: {child.spec.name} is back (pid {process.pid})")
                    return
                await asyncio.sleep(self.probe_interval)

        task = asyncio.create_task(watch(), name=f"recovery-{child.spec.name}")
        self._recovery_watchers.add(task)
        task.add_done_callback(self._recovery_watchers.discard)


def _signal(process: asyncio.subprocess.Process, signum: int) -> None:
    try:
        process.send_signal(signum)
    except ProcessLookupError:
        pass
