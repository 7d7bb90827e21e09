"""The workers ``gateways serve`` runs inside its own process, and their restart.

On SIGHUP (see :mod:`gateways.restart`) fresh workers, made from the re-imported app,
start receiving at once while the ones they replace stop taking messages and finish
those in flight: no message waits for the swap, none is cut short.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from gateways.worker import Worker

log = logging.getLogger("gateways.host")


class WorkerPool:
    """``count`` workers made by ``make(number)``; :meth:`restart` replaces them all."""

    def __init__(self, make: Callable[[int], Worker], count: int) -> None:
        self._make = make
        self._made = 0
        self.workers: list[Worker] = [self._next() for _ in range(count)]
        self._tasks: dict[asyncio.Task[None], Worker] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._changed: asyncio.Event | None = None
        self._stopping = False
        self._grace = self._stop_grace = 30.0

    def _next(self) -> Worker:
        self._made += 1
        return self._make(self._made - 1)

    def _launch(self, worker: Worker) -> None:
        self._tasks[asyncio.create_task(worker.run(self._grace), name=worker.name)] = worker
        if self._stopping:  # a stop that came before the start
            worker.stop(grace=self._stop_grace)

    async def run(self, grace: float) -> None:
        """Run the workers until :meth:`stop`. Returns early, or raises, when a current
        worker ends on its own (a crash): the host then stops too."""
        self._grace = grace
        self._changed = changed = asyncio.Event()
        for worker in self.workers:
            self._launch(worker)
        while not self._stopping:
            waiter: asyncio.Task[Any] = asyncio.create_task(changed.wait())
            first = asyncio.FIRST_COMPLETED
            done, _ = await asyncio.wait([waiter, *self._tasks], return_when=first)
            waiter.cancel()
            changed.clear()
            for task in done:
                if task is not waiter and self._ended(task):
                    return

    def _ended(self, task: asyncio.Task[Any]) -> bool:
        """Forget a finished worker task; True when it was a current worker's (a crash)."""
        worker = self._tasks.pop(task)
        if task not in self._retiring:
            if not self._stopping:
                task.result()  # re-raises why it ended
            return True
        self._retiring.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed while finishing", worker.name, exc_info=task.exception())
        return False

    def restart(self) -> list[Worker]:
        """Start fresh workers (``make`` builds them from what it sees now, e.g. a
        re-imported app), then tell the running ones to stop taking messages and finish
        theirs within the grace period. Returns the fresh workers (none before
        :meth:`run` or after :meth:`stop`)."""
        if self._changed is None or self._stopping:
            return []
        old, self.workers = self.workers, [self._next() for _ in self.workers]
        for worker in self.workers:
            self._launch(worker)
        for task, worker in self._tasks.items():
            if worker in old:
                self._retiring.add(task)
                worker.stop(self._grace)
        self._changed.set()
        return self.workers

    def stop(self, grace: float) -> None:
        """Stop taking messages; what is in flight gets ``grace`` seconds."""
        self._stopping, self._stop_grace = True, grace
        for worker in self._tasks.values():
            worker.stop(grace=grace)
        if self._changed is not None:
            self._changed.set()

    async def stopped(self) -> None:
        """Wait until every worker, retiring ones included, has finished (after
        :meth:`stop`, once :meth:`run` returned)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
