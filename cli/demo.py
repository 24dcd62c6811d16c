"""``labelclean demo``: everything, offline, on the bundled demo dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import command, out
from .common import ForceOpt, progress_bar
from .run import print_outcome, print_stage


@command()
def demo(
    out_dir: Annotated[Path, typer.Option(
        "--out", help="Folder for the demo dataset and its work directory.")] = Path(
        "labelclean-demo"),
    n_images: Annotated[Optional[int], typer.Option(
        "--n-images", min=50, max=1797, help="Original images in a new demo dataset "
                                             "(default: all 1,797).", show_default=False)] = None,
    force: ForceOpt = False,
) -> None:
    """Build a demo dataset with known problems, run every stage on it, and score the result."""
    from labelclean.demo.run import TARGETS, run_demo

    out.print(f"Demo dataset: {out_dir}/ (handwritten digits as photos, with injected label "
              "noise, duplicates and broken files)", markup=False)
    with progress_bar("demo") as progress:
        result = run_demo(out_dir, n_images=n_images, force=force, progress=progress,
                          on_stage=print_stage)
    out.print("Against the injected truth:")
    for name, value in result.scores.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else ("  ok" if value >= target else
                                             f"  below target {target}")
        out.print(f"  {name:<34} {value:.3f}{verdict}", markup=False)
    print_outcome(result.pipeline)
