"""``labelclean report``: the HTML gallery a person reviews, edits and exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import command, out
from .common import (
    ConfigOpt,
    ForceOpt,
    ImagesOpt,
    LabelsOpt,
    WorkdirOpt,
    load_scanned,
    plural,
    progress_bar,
)


@command()
def report(
    images: ImagesOpt = None, labels: LabelsOpt = None, workdir: WorkdirOpt = None,
    config: ConfigOpt = None, force: ForceOpt = False,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", help="Report folder (default: WORKDIR/report).", show_default=False)] = None,
    class_names: Annotated[Optional[Path], typer.Option(
        "--class-names", help='JSON file {"label": "name"} (overrides labelclean.toml).',
        show_default=False)] = None,
    oof: Annotated[Optional[Path], typer.Option(
        "--oof", help="Out-of-fold probabilities for the top-3 column (default: what "
                      "'labelclean noise' scored, else WORKDIR/oof.csv).",
        show_default=False)] = None,
    thumb_size: Annotated[Optional[int], typer.Option(
        "--thumb-size", help="Thumbnail side in pixels (default: 160).",
        show_default=False)] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", help="Processes for thumbnails (default: all cores).")] = None,
) -> None:
    """Write report/index.html: summary, figures, flagged-image gallery, duplicates, export."""
    from labelclean.io.dataset import load_class_names
    from labelclean.report.build import build_report
    from labelclean.report.data import load_inputs

    project = load_scanned(config, images, labels, workdir)
    names = load_class_names(class_names or project.dataset.class_names)
    inputs = load_inputs(project.workdir, oof=project.option("report", "oof", oof, None),
                         class_names=names)
    out_dir = project.option("report", "out", out_dir, None)
    with progress_bar("report") as progress:
        result = build_report(
            project.workdir, project.dataset.images,
            out_dir=Path(out_dir) if out_dir else None, inputs=inputs,
            thumb_size=project.option("report", "thumb_size", thumb_size, 160),
            workers=project.option("report", "workers", workers, None), force=force,
            progress=progress)
    t = result.thumbnails
    out.print(f"Wrote {result.path}")
    out.print(f"  {plural(result.n_flagged, 'flagged image')}, "
              f"{plural(result.n_groups, 'duplicate group')}, "
              f"{plural(result.n_unreadable, 'unreadable file')}")
    out.print(f"  thumbnails: {t.made:,} made, {t.reused:,} reused"
              + (f", {t.failed:,} unreadable" if t.failed else ""))
    for note in result.missing:
        out.print(f"  missing {note['file']}: {note['adds']}; run '{note['command']}'")
    out.print(f"Open it in a browser: {result.path.resolve().as_uri()}")
