"""``labelclean run``: every stage in order, one line per stage, a final summary."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import command, out
from .common import ConfigOpt, ForceOpt, ImagesOpt, LabelsOpt, WorkdirOpt, load, progress_bar


def stage_line(run) -> str:
    """One line about a finished (or skipped) stage."""
    if run.skipped:
        return f"  {run.name:<7} {run.skipped}"
    r = run.result
    detail = ""
    if run.name == "scan":
        s = r.summary
        detail = f"{s['files']:,} files, {s['unreadable']:,} unreadable"
    elif run.name == "dedupe":
        s = r.summary
        detail = (f"{s['groups']:,} groups, {s['to_drop']:,} copies to drop, "
                  f"{s['label_conflicts']:,} label conflicts")
    elif run.name == "embed":
        detail = f"{r.meta['n']:,} x {r.meta['dim']} with {r.meta['model']}"
    elif run.name == "oof":
        s = r.summary
        source = "embeddings" if s["source"] == "embeddings" else "training"
        detail = (f"{s['rows']:,} images, {s['folds']} folds from {source}, "
                  f"{s['accuracy']:.3f} agreement with the given labels")
    elif run.name == "noise":
        counts = r.result.counts()["action"]
        detail = (f"{r.result.n_label_issues:,} label issues; "
                  + ", ".join(f"{a} {n:,}" for a, n in counts.items()))
    elif run.name == "report":
        detail = f"{r.n_flagged:,} flagged, {r.n_groups:,} duplicate groups -> {r.path}"
    elif hasattr(r, "describe"):
        detail = r.describe()
    reused = " (reused)" if getattr(r, "reused", False) else ""
    return f"  {run.name:<7} {run.seconds:6.1f} s  {detail}{reused}"


@command("run")
def run_all(
    images: ImagesOpt = None, labels: LabelsOpt = None, workdir: WorkdirOpt = None,
    config: ConfigOpt = None, force: ForceOpt = False,
    only: Annotated[Optional[str], typer.Option(
        "--stages", help="Comma-separated stages to run (default: scan, dedupe, embed, oof, "
                         "noise, report).", show_default=False)] = None,
    skip: Annotated[Optional[str], typer.Option(
        "--skip", help="Comma-separated stages to leave out (e.g. embed).",
        show_default=False)] = None,
) -> None:
    """Run every stage in order; unchanged stages are reused."""
    from labelclean.config.settings import as_names
    from labelclean.pipeline.runner import run_pipeline

    project = load(config, images, labels, workdir)
    project.require_dataset()
    out.print(f"labelclean run: {project.dataset.images} -> {project.workdir}")
    with progress_bar("run") as progress:
        result = run_pipeline(project, stages=tuple(as_names(only)) or None,
                              skip=tuple(as_names(skip)), force=force,
                              progress=progress, on_stage=lambda r: out.print(
                                  stage_line(r), markup=False))
    print_outcome(result)


def print_outcome(result) -> None:
    wd = result.project.workdir
    for name, label in (("clean.csv", "cleaned labels"), ("manifest.csv", "decisions")):
        if (wd / name).exists():
            out.print(f"{label + ':':<16} {wd / name}")
    report = result.result("report")
    if report is not None:
        out.print(f"{'review report:':<16} {report.path.resolve().as_uri()}")
