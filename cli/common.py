"""Options shared by every command, project loading, and the progress bar."""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from labelclean.progress import ProgressFn

from .app import err

ImagesOpt = Annotated[Optional[str], typer.Option(
    "--images", help="Images folder, or a URI such as s3://bucket/prefix (overrides "
    "labelclean.toml).", show_default=False)]
LabelsOpt = Annotated[Optional[Path], typer.Option(
    "--labels", help="Labels CSV, e.g. train.csv (overrides labelclean.toml).",
    show_default=False)]
WorkdirOpt = Annotated[Optional[Path], typer.Option(
    "--workdir", help="Work directory for all outputs (default: .labelclean).",
    show_default=False)]
ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="Project file (default: ./labelclean.toml).", show_default=False)]
ForceOpt = Annotated[bool, typer.Option("--force", help="Recompute even if inputs are unchanged.")]
WaitOpt = Annotated[bool, typer.Option(
    "--wait", help="When another labelclean process is using the work directory, wait for it "
                   "to finish (default: stop at once, naming it).")]


def _keyword(name: str, annotation: object, default: object = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


#: the options every stage command takes, as parameters of a generated command
COMMON_OPTIONS = (_keyword("images", ImagesOpt), _keyword("labels", LabelsOpt),
                  _keyword("workdir", WorkdirOpt), _keyword("config", ConfigOpt),
                  _keyword("wait", WaitOpt, False))
FORCE_OPTION = _keyword("force", ForceOpt, False)


def load(config: Path | None, images: str | None, labels: Path | None,
         workdir: Path | None, **overrides):
    """The project from the project file and the command-line overrides."""
    from labelclean.pipeline.stages import load_project

    return load_project(config, images=images, labels=labels, workdir=workdir, **overrides)


def load_scanned(config: Path | None, images: str | None, labels: Path | None,
                 workdir: Path | None, **overrides):
    """The project of a command that works from the work directory once a scan has run.

    With no dataset named anywhere and nothing scanned yet, the error says how to name a
    dataset (not "run 'labelclean scan' first", which would fail the same way).
    """
    from labelclean.errors import NoDatasetError
    from labelclean.io.workdir import INDEX

    project = load(config, images, labels, workdir, **overrides)
    if project.dataset.images is None and not (project.workdir / INDEX).exists():
        raise NoDatasetError()
    return project


@contextmanager
def workdir_locked(project, wait: bool = False) -> Iterator[None]:
    """Hold the project's work-directory lock while the block runs (one labelclean process
    per work directory; ``wait``: wait for the one running, saying so once)."""
    from labelclean.io.lock import workdir_lock

    def waiting(text: str) -> None:
        err.print(f"Waiting: {text}", markup=False)

    with workdir_lock(project.workdir, wait=wait, on_wait=waiting):
        yield


@contextmanager
def progress_bar(description: str, *, log_steps: bool = False) -> Iterator[ProgressFn]:
    """A rich progress bar on stderr, driven by the library's ``progress(done, total)``.

    ``log_steps``: when stderr is not a terminal, print each new step description as a line
    instead (``train``: a line per epoch, with the last epoch's loss and accuracy).

    The bar appears on the first update, so a command that fails before doing any work
    prints its ``Error:`` line and nothing else; when stderr is not a terminal (a log file,
    a pipe, CI) there is no bar at all, so logs hold no redraws or stray blank lines.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    bar = Progress(*columns, console=err, transient=True, disable=not err.is_terminal)
    state: dict = {}

    def update(done: int, total: int, desc: str = "") -> None:
        now = time.perf_counter()
        if log_steps and not err.is_terminal and desc and desc != state.get("logged"):
            state["logged"] = desc
            err.print(desc, markup=False)
        if "task" not in state or desc != state.get("desc"):
            if "task" not in state:
                bar.start()
            else:
                bar.remove_task(state["task"])
            state.update(task=bar.add_task(desc or description, total=None, rate=""),
                         desc=desc, start=now, first=done)
        elapsed = now - state["start"]
        # the rate of this step alone: a count may carry on across steps (folds, epochs)
        step_done = done - state["first"]
        rate = f"{step_done / elapsed:,.0f}/s" if elapsed > 0 and step_done > 0 else ""
        bar.update(state["task"], completed=done, total=total, rate=rate)

    try:
        yield update
    finally:
        if "task" in state:
            bar.stop()
