"""``labelclean run``: every stage in order, one line per stage, a final summary."""

from __future__ import annotations

import inspect

from labelclean.config.options import specs
from labelclean.pipeline.options import RunOptions

from .app import command, err, option_namer, out
from .common import COMMON_OPTIONS, FORCE_OPTION, load, progress_bar, workdir_locked
from .stages import given_options, parameter, with_signature

RUN_SPECS = specs(RunOptions)


def run_all(**values) -> None:
    from labelclean.pipeline.runner import run_pipeline

    project = load(values["config"], values["images"], values["labels"], values["workdir"])
    project.require_dataset()
    given = given_options(RUN_SPECS, values)
    out.print(f"labelclean run: {project.dataset.images} -> {project.workdir}", markup=False)
    with workdir_locked(project, values["wait"]), progress_bar("run") as progress:
        result = run_pipeline(project, stages=given["stages"], skip=given["skip"] or (),
                              force=values["force"], progress=progress,
                              on_stage=print_stage,
                              shared={k: v for k, v in given.items()
                                      if k not in ("stages", "skip")})
    print_outcome(result)


def print_stage(run) -> None:
    """One line per stage, then its warnings, option names as ``[stage] key``."""
    from labelclean.pipeline.runner import run_line

    out.print(run_line(run), markup=False)
    say = option_namer(None, run.stage)
    for warning in run.warnings:
        err.print(f"Warning: {say(warning)}", markup=False)


def print_outcome(result) -> None:
    wd = result.project.workdir
    for name, label in (("clean.csv", "cleaned labels"), ("manifest.csv", "decisions")):
        if (wd / name).exists():
            out.print(f"{label + ':':<16} {wd / name}", markup=False)
    report = result.result("report")
    if report is not None:
        out.print(f"{'review report:':<16} {report.path.resolve().as_uri()}", markup=False)


PARAMS: list[inspect.Parameter] = [*COMMON_OPTIONS, FORCE_OPTION,
                                   *(parameter(s) for s in RUN_SPECS)]
command("run")(with_signature(run_all, PARAMS, "Run every stage in order; unchanged stages "
                                               "are reused."))
