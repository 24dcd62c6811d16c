"""The report stage as the pipeline runs it: options in, :class:`StageResult` out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from labelclean.report.options import ReportOptions
from labelclean.results import StageResult, plural


def run(project: Any, options: ReportOptions, *, force: bool = False,
        progress: Any = None) -> StageResult:
    """Write ``report/index.html``: summary, figures, flagged-image gallery, duplicates."""
    from labelclean.io.dataset import load_class_names
    from labelclean.report.build import build_report
    from labelclean.report.data import load_inputs

    start = time.perf_counter()
    out_dir = _checked_out(project, options)
    inputs = load_inputs(project.workdir, oof=options.oof,
                         class_names=load_class_names(project.dataset.class_names))
    result = build_report(project.workdir, project.dataset.images, inputs=inputs, force=force,
                          out_dir=out_dir,
                          thumb_size=options.thumb_size, workers=options.workers,
                          progress=progress)
    return StageResult(
        "report", result, False, {"flagged": result.n_flagged, "groups": result.n_groups},
        seconds=time.perf_counter() - start,
        brief=f"{result.n_flagged:,} flagged, {result.n_groups:,} duplicate groups -> "
              f"{result.path}",
        describe=lambda: summary_lines(result))


def _checked_out(project: Any, options: ReportOptions) -> Path | None:
    """``out`` (None: the work directory's report folder), checked to leave the images
    folder and every input file alone."""
    from labelclean.io.formats import images_root
    from labelclean.io.guard import check_output_dir

    if not options.out:
        return None
    ds = project.dataset
    root = ds.images if ds.images is not None else images_root(project.workdir)
    return check_output_dir(options.out, images_root=root, inputs={
        "the labels file": ds.labels, "the project file": project.config_path,
        "the class names file": ds.class_names, "the OOF file": options.oof})


def summary_lines(result: Any) -> list[str]:
    t = result.thumbnails
    lines = [f"Wrote {result.path}",
             f"  {plural(result.n_flagged, 'flagged image')}, "
             f"{plural(result.n_groups, 'duplicate group')}, "
             f"{plural(result.n_unreadable, 'unreadable file')}",
             f"  thumbnails: {t.made:,} made, {t.reused:,} reused"
             + (f", {t.failed:,} unreadable" if t.failed else "")]
    lines += [f"  missing {note['file']}: {note['adds']}; run '{note['command']}'"
              for note in result.missing]
    lines.append(f"Open it in a browser: {result.path.resolve().as_uri()}")
    return lines
