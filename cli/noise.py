"""``labelclean noise``: wrong labels from out-of-fold predictions; ``labelclean apply``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelclean.results import plural

from .app import command, out
from .common import ConfigOpt, ImagesOpt, LabelsOpt, WorkdirOpt, load
from .stages import stage_command

stage_command("noise")


@command("apply")
def apply_cmd(
    manifest: Annotated[Path, typer.Option(
        "--manifest", help="A manifest.csv you edited (or exported from the report).",
        show_default=False)],
    images: ImagesOpt = None, labels: LabelsOpt = None, workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    out_file: Annotated[Optional[Path], typer.Option(
        "--out", help="Where to write the clean labels file (default: WORKDIR/clean.csv).",
        show_default=False)] = None,
) -> None:
    """Write clean.csv from an edited manifest: drops removed, relabels applied."""
    from labelclean.noise.manifest import apply_manifest

    project = load(config, images, labels, workdir)
    result = apply_manifest(manifest, project.load_dataset(), project.workdir, out=out_file)
    c = result.counts
    out.print(f"Wrote {result.path}: {result.rows_out:,} of {result.rows_in:,} rows "
              f"({c['drop']:,} dropped, {c['relabel']:,} relabelled, {c['review']:,} review "
              "rows kept with their given label)", markup=False)
    if result.not_in_manifest:
        out.print(f"  {plural(result.not_in_manifest, 'row')} not in the manifest kept as "
                  "they are", markup=False)
