"""``labelclean demo``: everything, offline, on the bundled demo dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import command, out
from .common import ForceOpt, progress_bar
from .scan import print_scan_summary


@command()
def demo(
    out_dir: Annotated[Path, typer.Option(
        "--out", help="Folder for the demo dataset and its work directory.")] = Path(
        "labelclean-demo"),
    force: ForceOpt = False,
) -> None:
    """Build a demo dataset with known problems, run every stage on it, and score the result."""
    from labelclean.pipeline import run_demo

    out.print(f"Demo dataset: {out_dir}/ (digits as photos, with injected label noise, "
              "duplicates and broken files)")
    with progress_bar("demo") as progress:
        result = run_demo(out_dir, force=force, progress=progress)
    scan = result.pipeline.results.get("scan")
    if scan is not None:
        print_scan_summary(scan.summary, result.pipeline.project.workdir, 0.0, scan.reused)
    out.print("Against the injected truth:")
    for name, value in result.scores.items():
        out.print(f"  {name:<24} {value:.3f}")
