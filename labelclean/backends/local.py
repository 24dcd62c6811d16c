"""Local parallelism: a process-pool map that stays serial when a pool would not pay."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, TypeVar

T = TypeVar("T")


def pool_map(fn: Callable[[Any], T], tasks: Sequence[Any], workers: int | None = None, *,
             min_tasks: int = 64, before_fork: Callable[[], None] | None = None
             ) -> Iterator[T]:
    """Yield ``fn(task)`` for every task, in order, from ``workers`` processes.

    ``workers`` defaults to every core. With one worker, or fewer than ``min_tasks``
    tasks, runs in this process. ``before_fork`` is called once before the pool starts
    (forked workers inherit what it loaded). ``fn`` must be picklable (a module-level
    function); tasks go out in chunks of up to 64.
    """
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(tasks) < min_tasks:
        yield from map(fn, tasks)
        return
    chunksize = max(1, min(64, len(tasks) // (workers * 8)))
    if before_fork is not None:
        before_fork()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(fn, tasks, chunksize=chunksize)


class WorkerPool:
    """Worker processes kept for several maps: started (forked) at the first :meth:`map`,
    stopped by :meth:`close` (or at the end of a ``with`` block).

    ``initializer(*initargs)`` runs once in each worker; forked workers get ``initargs``
    without a copy, as they were when the pool started.
    """

    def __init__(self, workers: int, initializer: Callable[..., None],
                 initargs: tuple = ()) -> None:
        self.workers, self.initializer, self.initargs = workers, initializer, initargs
        self.pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self.pool is not None

    def map(self, fn: Callable[[Any], T], tasks: Sequence[Any]) -> Iterator[T]:
        """Yield ``fn(task)`` for every task, in order, one task at a time per worker."""
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=self.workers,
                                            initializer=self.initializer,
                                            initargs=self.initargs)
        yield from self.pool.map(fn, tasks)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def one_blas_thread() -> AbstractContextManager:
    """A context in which numpy's BLAS runs on one thread (workers forked inside it too).

    Per-file work makes many small matrix products; a threaded BLAS splits each one over
    every core, which is slower for products this small and fights the pool's own workers
    for the cores.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
