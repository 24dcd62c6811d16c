"""The scan stage as the pipeline runs it: options in, :class:`StageResult` out."""

from __future__ import annotations

import time
from typing import Any

from labelclean.results import StageResult, plural
from labelclean.scan.options import ScanOptions


def run(project: Any, options: ScanOptions, *, force: bool = False,
        progress: Any = None) -> StageResult:
    """Scan the project's dataset into its work directory (``index.csv``, hashes, thumbs)."""
    from labelclean.scan.stage import scan_dataset

    start = time.perf_counter()
    result = scan_dataset(project.load_dataset(options.listing), project.workdir,
                          hash_methods=options.hash, workers=options.workers, force=force,
                          progress=progress, thresholds=options.thresholds(),
                          quality=options.quality, backend=options.backend,
                          ray_address=options.ray_address)
    elapsed = time.perf_counter() - start
    s = result.summary
    return StageResult(
        "scan", result, result.reused, s, seconds=elapsed,
        brief=f"{s['files']:,} files, {s['unreadable']:,} unreadable",
        describe=lambda: summary_lines(s, project.workdir, elapsed, result.reused))


def summary_lines(s: dict, workdir: Any, elapsed: float, reused: bool) -> list[str]:
    how = "unchanged, reused" if reused else (
        f"{elapsed:.1f} s, {s['files'] / max(elapsed, 1e-9):,.0f} files/s")
    reasons = ", ".join(f"{k}: {v}" for k, v in s["unreadable_by_reason"].items())
    return [f"Scanned {s['files']:,} files ({how}) -> {workdir / 'index.csv'}",
            f"  readable    {s['readable']:>8,}",
            f"  unreadable  {s['unreadable']:>8,}" + (f"   ({reasons})" if reasons else ""),
            f"  labeled     {s['labeled']:>8,}   ({plural(s['classes'], 'class')})"
            .replace("classs", "classes"),
            f"  unlabeled   {s['unlabeled']:>8,}",
            f"  missing     {s['missing']:>8,}"] + quality_lines(s.get("quality") or {}, workdir)


def quality_lines(counts: dict, workdir: Any) -> list[str]:
    """The image-quality issues found, one line (none when nothing was found)."""
    found = ", ".join(f"{name} {n:,}" for name, n in counts.items() if n)
    return [f"  quality     {found} -> {workdir / 'quality.csv'}"] if found else []
