"""Runs blocking work (database units of work) off the event loop, keeping contextvars."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class BlockingRunner:
    """A small thread pool for one service's database work (PostgreSQL)."""

    def __init__(self, workers: int, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


class InlineRunner:
    """Runs database work on the event loop's own thread (SQLite, for identity and campaign:
    small transactions, where handing each to a thread cost more than it saved)."""

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    def shutdown(self) -> None:
        pass


def runner_for(engine, name: str, *, sqlite_writer_thread: bool = False):
    """PostgreSQL: a pool, since its calls wait on the network with the GIL released.

    SQLite: one writer in any case; inline by default, or on one thread of its own with
    sqlite_writer_thread, for services whose commits write many pages (ingest's event log,
    delivery's sends), so a commit no longer stalls the event loop. Such a service must keep
    its bulk inserts to a few statements: sqlite3 gives up the GIL at every statement step and
    executemany waits to get it back once per row."""
    if engine.dialect.name != "sqlite":
        return BlockingRunner(8, name)
    if sqlite_writer_thread:
        return BlockingRunner(1, name)
    return InlineRunner()


class GroupCommit:
    """Coalesces concurrent requests into one database transaction.

    While one transaction runs, new submissions wait and then go together in the next,
    so under load a commit (and its fsync) is shared by many requests instead of paid by
    each. `work(items)` runs in the runner and returns one result per item. If a group
    fails, each of its items is retried alone, so one bad request never fails the others.
    """

    def __init__(self, runner: BlockingRunner, work: Callable[[list[Any]], list[Any]], max_items: int = 64) -> None:
        self.runner = runner
        self.work = work
        self.max_items = max_items
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._draining = False

    async def submit(self, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending[: self.max_items], self._pending[self.max_items :]
                await self._commit(group)
        finally:
            self._draining = False

    async def _commit(self, group: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            results = await self.runner.run(self.work, [item for item, _ in group])
        except Exception as error:
            if len(group) == 1:
                _settle(group[0][1], error=error)
                return
            for single in group:
                await self._commit([single])
            return
        for (_, future), result in zip(group, results):
            _settle(future, result=result)


def _settle(future: asyncio.Future, *, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def read_in(runner, engine, handler: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """handler(connection, ...) on a plain connection, through the service's runner."""

    def work() -> T:
        with engine.connect() as connection:
            return handler(connection, *args, **kwargs)

    return await runner.run(work)


async def write_in(runner, engine, handler: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """handler(connection, ...) in one transaction (committed on return), through the runner."""

    def work() -> T:
        with engine.begin() as connection:
            return handler(connection, *args, **kwargs)

    return await runner.run(work)
