"""``labelclean scan``: index every file, readable or not."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

from .app import command, out
from .common import (
    ConfigOpt,
    ForceOpt,
    ImagesOpt,
    LabelsOpt,
    WorkdirOpt,
    load,
    load_dataset_of,
    progress_bar,
)


@command()
def scan(
    images: ImagesOpt = None, labels: LabelsOpt = None, workdir: WorkdirOpt = None,
    config: ConfigOpt = None, force: ForceOpt = False,
    hash_methods: Annotated[Optional[str], typer.Option(
        "--hash", help="Perceptual hashes to compute, comma-separated "
                       "(phash, dhash, ahash, whash); default phash.")] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", help="Processes (default: all cores).")] = None,
) -> None:
    """Index every image file: readable or not (and why), size, format, content hash."""
    from labelclean.config.settings import as_names
    from labelclean.scan.stage import scan_dataset

    project = load(config, images, labels, workdir)
    dataset = load_dataset_of(project)
    methods = project.option("scan", "hash", hash_methods, "phash")
    start = time.perf_counter()
    with progress_bar("scan") as progress:
        result = scan_dataset(dataset, project.workdir, hash_methods=tuple(as_names(methods)),
            workers=project.option("scan", "workers", workers, None),
            force=force, progress=progress)
    elapsed = time.perf_counter() - start
    print_scan_summary(result.summary, project.workdir, elapsed, result.reused)


def print_scan_summary(s: dict, workdir, elapsed: float, reused: bool) -> None:
    how = "unchanged, reused" if reused else (
        f"{elapsed:.1f} s, {s['files'] / max(elapsed, 1e-9):,.0f} files/s")
    out.print(f"Scanned {s['files']:,} files ({how}) -> {workdir / 'index.csv'}")
    out.print(f"  readable    {s['readable']:>8,}")
    reasons = ", ".join(f"{k}: {v}" for k, v in s["unreadable_by_reason"].items())
    out.print(f"  unreadable  {s['unreadable']:>8,}" + (f"   ({reasons})" if reasons else ""))
    out.print(f"  labeled     {s['labeled']:>8,}   ({s['classes']} classes)")
    out.print(f"  unlabeled   {s['unlabeled']:>8,}")
    out.print(f"  missing     {s['missing']:>8,}")
