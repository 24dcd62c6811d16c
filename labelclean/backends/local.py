"""Local parallelism: a process-pool map that stays serial when a pool would not pay."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, TypeVar

T = TypeVar("T")


def pool_map(fn: Callable[[Any], T], tasks: Sequence[Any], workers: int | None = None, *,
             min_tasks: int = 64, before_fork: Callable[[], None] | None = None,
             initializer: Callable[..., None] | None = None, initargs: tuple = ()
             ) -> Iterator[T]:
    """Yield ``fn(task)`` for every task, in order, from ``workers`` processes.

    ``workers`` defaults to every core. With one worker, or fewer than ``min_tasks``
    tasks, runs in this process (after ``initializer(*initargs)``, when given, as a
    worker would). ``before_fork`` is called once before the pool starts (forked workers
    inherit what it loaded); ``initializer(*initargs)`` runs once in each worker (forked
    workers get ``initargs`` without a copy). ``fn`` must be picklable (a module-level
    function); tasks go out in chunks of up to 64.
    """
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(tasks) < min_tasks:
        if initializer is not None:
            initializer(*initargs)
        yield from map(fn, tasks)
        return
    chunksize = max(1, min(64, len(tasks) // (workers * 8)))
    if before_fork is not None:
        before_fork()
    with ProcessPoolExecutor(max_workers=workers, initializer=initializer,
                             initargs=initargs) as pool:
        yield from pool.map(fn, tasks, chunksize=chunksize)


def one_blas_thread() -> AbstractContextManager:
    """A context in which numpy's BLAS runs on one thread (workers forked inside it too).

    Per-file work makes many small matrix products; a threaded BLAS splits each one over
    every core, which is slower for products this small and fights the pool's own workers
    for the cores.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
