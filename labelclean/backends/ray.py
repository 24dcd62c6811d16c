"""Ray Data: the per-image stages (scan, embed) spread over a Ray cluster.

The driver (this process) holds the work directory. It writes the rows still to do as a
Parquet listing (``row``, plus the stage's columns), Ray reads it in shards, runs the
stage's batch function in tasks (decoding: a bad file comes back as a row with its error,
never a failed task) and, for a model, a callable class in an actor pool (GPUs when the
cluster has them). Output batches come back to the driver in any order, each carrying its
``row``, and the stage places them by it, so the files are in row order whatever the
order of completion.

``import ray`` happens only here, and only when the Ray backend runs: the default install
needs no Ray (``pip install "labelclean[ray]"`` adds it).

Resuming: :class:`RowParts` keeps the finished rows of a run as Parquet parts (a record of
rows, not only a contiguous prefix), so an interrupted run does only the missing ones.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.errors import ConfigError

BACKENDS = ("local", "ray")
#: where a stage's Ray scratch lives in the work directory (removed when the stage is done)
SCRATCH = ".ray"
#: rows per listing shard: small enough for every CPU of a cluster to get several
MAX_SHARD_ROWS = 16384
#: rows per call of a task's batch function (the default of :func:`map_listing`)
BATCH_ROWS = 64
#: test hook: raise :class:`Interrupted` after this many output batches (None: never)
STOP_AFTER: int | None = None


class Interrupted(RuntimeError):
    """Raised by the :data:`STOP_AFTER` test hook, as if the run had been killed."""


def check_backend(backend: str) -> str:
    """``backend`` if it is one of :data:`BACKENDS` and, for ``ray``, Ray is installed
    (ConfigError naming `backend`, or saying how to install Ray, if not)."""
    if backend not in BACKENDS:
        raise ConfigError(f"`backend` must be one of {', '.join(BACKENDS)}, not '{backend}'")
    if backend == "ray":
        import_ray()
    return backend


def scratch_folder(workdir: str | os.PathLike, stage: str) -> Path:
    """Where ``stage``'s Ray scratch (listing, finished rows) lives in ``workdir``."""
    return Path(workdir) / SCRATCH / stage


def remove_scratch(workdir: str | os.PathLike, stage: str) -> None:
    """Remove ``stage``'s Ray scratch (and the folders above it, up to the work directory,
    once they are empty)."""
    folder = scratch_folder(workdir, stage)
    shutil.rmtree(folder, ignore_errors=True)
    for up in folder.parents:
        if up == Path(workdir):
            break
        try:
            up.rmdir()
        except OSError:
            break


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError('the ray backend needs Ray: pip install "labelclean[ray]"') from None
    return ray


def connect(address: str | None = None) -> Any:
    """Join the Ray cluster at ``address`` (``host:port`` or ``ray://host:port``), or start a
    local Ray on this machine's cores when None; an already started Ray is used as it is.

    Ray Data's progress bars and start-of-run logging are turned off (the library never
    prints; progress goes through the stage's progress callback)."""
    ray = import_ray()
    if not ray.is_initialized():
        try:
            # 'local': a new Ray on this machine, never one another process left running
            ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except ConnectionError as exc:
            raise ConfigError(f"cannot reach the Ray cluster at `ray_address` {address}: "
                              f"{exc}") from None
    logger = logging.getLogger("ray.data")
    level = logger.level or logging.NOTSET
    logger.setLevel(max(level, logging.WARNING))  # Ray Data's per-run INFO lines: off
    # not the warning, at each first run, that the progress bars are off
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    return ray


def cluster_cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def cluster_gpus(ray: Any) -> int:
    return int(ray.cluster_resources().get("GPU", 0))


def put_listing(ray: Any, columns: Mapping[str, np.ndarray], cpus: int) -> list[Any]:
    """``columns`` (``row`` and the stage's, equal lengths) as Arrow shards in Ray's object
    store: a few shards per CPU, at most :data:`MAX_SHARD_ROWS` rows each, in row order.

    The listing travels through the object store (about a hundred bytes per image, spilled
    to disk when it is full), so no worker needs to reach the driver's disk; Ray's own file
    readers are not used because listing millions of files through them takes hours."""
    import pyarrow as pa

    n = len(columns["row"])
    rows = min(MAX_SHARD_ROWS, max(16, math.ceil(n / (4 * cpus))))
    table = pa.table({k: pa.array(v) for k, v in columns.items()})
    return [ray.put(table.slice(first, rows)) for first in range(0, n, rows)]


def map_listing(columns: Mapping[str, np.ndarray], fn: Callable, *,
                fn_kwargs: Mapping[str, Any] | None = None, batch_size: int | None = None,
                concurrency: int | None = None, model: type | None = None,
                model_kwargs: Mapping[str, Any] | None = None, model_batch_size: int = 32,
                model_actors: int | None = None, address: str | None = None
                ) -> Iterator[dict[str, np.ndarray]]:
    """Yield the output batches of ``fn`` (then ``model``, if given) over the rows of
    ``columns``, in any order; each batch is a dict of numpy arrays with its ``row``.

    ``fn(batch, **fn_kwargs)`` runs in tasks of one CPU, ``batch_size`` rows at a time
    (default :data:`BATCH_ROWS`), at
    most ``concurrency`` at once (None: as many as the cluster has CPUs). ``model`` is a
    callable class built once per actor with ``model_kwargs``; ``model_actors`` actors
    (default: one per GPU, or one per node without GPUs), each with one GPU when the
    cluster has them; without GPUs an actor counts as half a CPU (its model uses the node's
    cores through its own threads), which also keeps Ray from fusing ``fn`` into the actor,
    so decoding goes on in tasks beside the model.
    """
    ray = connect(address)
    cpus, gpus = cluster_cpus(ray), cluster_gpus(ray)
    shards = put_listing(ray, columns, cpus)
    try:
        ds = ray.data.from_arrow_refs(shards)
        ds = ds.map_batches(fn, fn_kwargs=dict(fn_kwargs or {}),
                            batch_size=batch_size or BATCH_ROWS,
                            batch_format="numpy", concurrency=concurrency)
        if model is not None:
            nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
            actors = model_actors or (gpus or max(1, nodes))
            ds = ds.map_batches(model, fn_constructor_kwargs=dict(model_kwargs or {}),
                                batch_size=model_batch_size, batch_format="numpy",
                                num_gpus=1 if gpus else 0, num_cpus=1 if gpus else 0.5,
                                compute=ray.data.ActorPoolStrategy(size=actors))
        for k, batch in enumerate(ds.iter_batches(batch_size=None, batch_format="numpy"),
                                  start=1):
            yield batch
            if STOP_AFTER is not None and k >= STOP_AFTER:
                raise Interrupted(f"stopped after {k} batches (test hook)")
    finally:
        del shards


class RowParts:
    """The finished rows of an interrupted run, as Parquet parts in ``folder``.

    Each part holds ``row`` (int64) and the stage's columns. ``key`` (the stage's params
    and inputs) is kept beside them: parts of another key are removed on opening, so a
    resumed run never mixes rows computed from other files or settings.
    """

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = Path(folder)
        stamp = self.folder / "key.json"
        try:
            same = json.loads(stamp.read_text()).get("key") == key
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
            stamp.write_text(json.dumps({"key": key}))
        self._count = len(self.parts())

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.parquet"))

    def done_rows(self) -> np.ndarray:
        """(K,) int64: every row the parts hold."""
        import pyarrow.parquet as pq

        found = [pq.read_table(p, columns=["row"])["row"].to_numpy() for p in self.parts()]
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def add(self, batches: list[dict[str, np.ndarray]]) -> None:
        """Write ``batches`` as one new part (written whole, then renamed into place)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not batches:
            return
        table = pa.concat_tables([pa.table({k: pa.array(v) for k, v in b.items()})
                                  for b in batches])
        target = self.folder / f"part-{self._count:08d}.parquet"
        tmp = target.with_suffix(".partial")
        pq.write_table(table, tmp)
        os.replace(tmp, target)
        self._count += 1

    def read(self, columns: list[str]) -> dict[str, np.ndarray]:
        """Every finished row's ``columns`` (and ``row``), sorted by row."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = [pq.read_table(p) for p in self.parts()]
        if not tables:
            return {c: np.zeros(0, dtype=object) for c in ["row", *columns]}
        table = pa.concat_tables(tables)
        order = np.argsort(table["row"].to_numpy(), kind="stable")
        return {c: table[c].to_numpy(zero_copy_only=False)[order] for c in ["row", *columns]}

    def each(self, columns: list[str]) -> Iterator[dict[str, np.ndarray]]:
        """Every finished row's ``columns`` (and ``row``), one part at a time (in the order
        the parts were written: rows in no particular order), so only one part is held."""
        import pyarrow.parquet as pq

        for path in self.parts():
            table = pq.read_table(path, columns=["row", *columns])
            yield {c: table[c].to_numpy(zero_copy_only=False) for c in ["row", *columns]}



def collect(batches: Iterator[dict[str, np.ndarray]], parts: RowParts, *,
            every_rows: int = 4096, every_seconds: float = 10.0,
            on_rows: Callable[[int], None] | None = None) -> None:
    """Save ``batches`` into ``parts``, a part every ``every_rows`` rows or
    ``every_seconds`` (and what is left when the batches end or fail); ``on_rows(k)``
    after each batch of ``k`` rows."""
    pending: list[dict[str, np.ndarray]] = []
    rows, saved_at = 0, time.monotonic()
    try:
        for batch in batches:
            pending.append(batch)
            rows += len(batch["row"])
            if on_rows is not None:
                on_rows(len(batch["row"]))
            if rows >= every_rows or time.monotonic() - saved_at > every_seconds:
                parts.add(pending)
                pending, rows, saved_at = [], 0, time.monotonic()
    finally:
        parts.add(pending)
