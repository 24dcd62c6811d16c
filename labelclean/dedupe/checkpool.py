"""The photo check on every core: chunks of candidate pairs verified in worker processes.

:func:`~labelclean.dedupe.photo.verify_photo_pairs` is numpy on one thread, and its pairs
are independent, so a dedupe run verifies its chunks of pairs in worker processes, one pool
for the whole run (the candidates, then the extra pairs the star groups ask about). The
pool starts at the first batch worth splitting, after that batch's second-look images were
decoded (each file once, into this process's cache, which the workers inherit); an image
first asked for later is decoded by the worker that needs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from labelclean.backends.local import WorkerPool, one_blas_thread
from labelclean.dedupe.photo import DetailImages, Hints, verify_photo_pairs

#: Candidate pairs verified at a time by the photo check (bounded memory).
CHUNK = 4096
#: The fewest pairs worth sending to a worker: a batch smaller than two of these is
#: verified in this process.
MIN_CHUNK = 128


class PhotoChecks:
    """Verifies rows of hints a chunk at a time, in worker processes when there are cores
    (every core, or ``detail.workers``) and pairs enough. Use in a ``with`` block (the
    workers stop at its end)."""

    def __init__(self, thumbs: np.ndarray, detail: DetailImages | None,
                 workers: int | None = None) -> None:
        self.thumbs, self.detail = thumbs, detail
        workers = workers or (detail.workers if detail is not None else None)
        self.pool = WorkerPool(workers or os.cpu_count() or 1, _share, (thumbs, detail))
        self.shared: set[int] = set()  # rows whose second-look images the workers inherited

    def chunks(self, rows: np.ndarray) -> list[np.ndarray]:
        """``rows`` (M,) cut into chunks: at most :data:`CHUNK` each, and spread over the
        workers when that leaves at least :data:`MIN_CHUNK` a chunk."""
        workers = self.pool.workers
        size = min(CHUNK, max(MIN_CHUNK, -(-len(rows) // workers))) if workers > 1 else CHUNK
        return [rows[start:start + size] for start in range(0, len(rows), size)]

    def run(self, hints: list[Hints]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``verify_photo_pairs`` of each chunk of ``hints``, in order: ``(confirmed (M,)
        bool, score (M,))`` each."""
        if len(hints) < 2 or self.pool.workers < 2:
            yield from (verify_photo_pairs(self.thumbs, h, self.detail) for h in hints)
            return
        tasks = [(h, {}) for h in hints]
        if self.detail is not None:
            self.detail.load(np.concatenate([np.concatenate([h.a, h.b]) for h in hints]))
            if self.pool.started:  # the workers have the cache as it was: send what is new
                for h, extra in tasks:
                    extra.update((r, self.detail.cache[r]) for r in
                                 np.unique(np.concatenate([h.a, h.b])).tolist()
                                 if r not in self.shared)
            else:
                self.shared = set(self.detail.cache)
        with one_blas_thread():  # one thread each (inherited): the workers are the parallelism
            yield from self.pool.map(_photo_chunk, tasks)

    def __enter__(self) -> PhotoChecks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.close()


#: What a worker process verifies against: (thumbnails, second-look images), from :func:`_share`.
_SHARED: tuple = ()


def _share(thumbs: np.ndarray, detail: DetailImages | None) -> None:
    global _SHARED
    if detail is not None:
        detail.workers = 1  # a worker decodes what it lacks itself, with no pool of its own
    _SHARED = (thumbs, detail)


def _photo_chunk(task: tuple[Hints, dict[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The photo check of one chunk of hints, given the second-look images decoded since
    the pool started that it needs."""
    hints, extra = task
    thumbs, detail = _SHARED
    if detail is not None:
        detail.cache.update(extra)
    return verify_photo_pairs(thumbs, hints, detail)
