"""``labelclean apply``: a reviewed manifest into clean.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelclean.results import plural

from .app import command, out
from .common import ConfigOpt, ImagesOpt, LabelsOpt, WorkdirOpt, load, workdir_locked


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
    partial: Annotated[bool, typer.Option(
        "--partial", help="The manifest may leave images out: they keep the decisions of "
                          "WORKDIR/manifest.csv.")] = False,
) -> None:
    """Write clean.csv from an edited manifest: drops removed, relabels applied."""
    from labelclean.noise.manifest import apply_manifest

    project = load(config, images, labels, workdir)
    inputs = {"the project file": project.config_path,
              "the class names file": project.dataset.class_names}
    with workdir_locked(project):  # clean.csv is the noise stage's file too
        result = apply_manifest(manifest, project.load_dataset(), project.workdir,
                                out=out_file, partial=partial, inputs=inputs)
    c = result.counts
    out.print(f"Wrote {result.path}: {result.rows_out:,} of {result.rows_in:,} rows "
              f"({c['drop']:,} dropped, {c['relabel']:,} relabelled, {c['review']:,} review "
              "rows kept with their given label)", markup=False)
    if result.from_workdir:
        out.print(f"  {plural(result.from_workdir, 'image')} not in the manifest: decisions "
                  f"of {project.workdir / 'manifest.csv'}", markup=False)
    if result.not_in_manifest:
        out.print(f"  {plural(result.not_in_manifest, 'unlabeled row')} kept as they are",
                  markup=False)
