"""Runs blocking work (database units of work) off the event loop, keeping contextvars."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class BlockingRunner:
    """A small thread pool for one service's database work.

    SQLite has one writer at a time, so its services use a single worker; that also keeps
    each service's writes in arrival order.
    """

    def __init__(self, workers: int, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


def runner_for(engine, name: str) -> BlockingRunner:
    workers = 1 if engine.dialect.name == "sqlite" else 8
    return BlockingRunner(workers, name)
