"""Running the stages in order: ``labelclean run``.

The order, the stages and their options come from the registry
(:mod:`labelclean.pipeline.stages`); stages whose inputs did not change reuse their previous
result. The scan runs once with every hash a later stage asks for, so no stage ever has to
run another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from labelclean.config.options import specs
from labelclean.config.project import Project
from labelclean.errors import LabelcleanError
from labelclean.pipeline.stages import STAGES, check_stages
from labelclean.progress import ProgressFn
from labelclean.results import StageResult


@dataclass
class PipelineResult:
    """Each stage's :class:`StageResult`, by stage name, in the order they ran."""

    project: Project
    stages: dict[str, StageResult] = field(default_factory=dict)

    def result(self, name: str) -> Any:
        """The library result of stage ``name`` (None if it did not run)."""
        run = self.stages.get(name)
        return None if run is None else run.value


def stage_options(project: Project, name: str, shared: dict[str, Any] | None = None) -> Any:
    """The options ``run`` gives stage ``name``: ``shared`` (``run``'s own command-line
    options the stage also has, e.g. ``backend``) over its project-file table over its
    defaults; the scan also computes the hash that ``[dedupe]`` asks for."""
    stage = STAGES[name]
    own = {s.name for s in specs(stage.options)}
    options = stage.resolve(project, {k: v for k, v in (shared or {}).items() if k in own})
    if name == "scan":
        wanted = STAGES["dedupe"].resolve(project).hash_method
        if wanted not in options.hash:
            options = replace(options, hash=tuple(options.hash) + (wanted,))
    return options


def run_pipeline(project: Project, *, stages: tuple[str, ...] | None = None,
                 skip: tuple[str, ...] = (), force: bool = False,
                 progress: ProgressFn | None = None,
                 on_stage: Callable[[StageResult], None] | None = None,
                 shared: dict[str, Any] | None = None) -> PipelineResult:
    """Run ``stages`` (default: all, less ``[run] skip`` of the project file) in order.

    ``shared``: options (by field name, None = not given) for every stage that has them,
    over the project file (``backend="ray"``).

    ``on_stage`` is called after each stage with its :class:`StageResult` (the CLI prints a
    line per stage from it). A stage's error carries the stage's name (``error.stage``).
    """
    dataset = project.load_dataset()
    skip = tuple(skip) + tuple(project.stages.get("run", {}).get("skip", ()))
    wanted = check_stages(list(stages or STAGES))
    check_stages(list(skip))
    result = PipelineResult(project=project)
    for name in wanted:
        if name in skip:
            run = StageResult(name, skipped="skipped (configured)")
        elif stages is None and _off(project, name):
            run = StageResult(name, skipped=f"skipped: off unless [{name}] "
                                            f"{STAGES[name].off_unless} is set")
        elif STAGES[name].labels and not dataset.has_labels:
            run = StageResult(name, skipped="skipped: the dataset has no labels")
        else:
            run = _run_one(project, name, force, progress, shared)
        result.stages[name] = run
        if on_stage is not None:
            on_stage(run)
    return result


def _off(project: Project, name: str) -> bool:
    """Whether stage ``name`` is off: it has an ``off_unless`` key its table does not set."""
    key = STAGES[name].off_unless
    return bool(key) and key not in project.stages.get(name, {})


def _run_one(project: Project, name: str, force: bool, progress: ProgressFn | None,
             shared: dict[str, Any] | None = None) -> StageResult:
    start = time.perf_counter()
    try:
        run = STAGES[name].run(project, stage_options(project, name, shared), force=force,
                               progress=_named(progress, name))
    except LabelcleanError as exc:
        exc.stage = name
        raise
    run.seconds = time.perf_counter() - start
    return run


def run_line(run: StageResult) -> str:
    """One line about a finished (or skipped) stage."""
    if run.skipped:
        return f"  {run.stage:<7} {run.skipped}"
    reused = " (reused)" if run.reused else ""
    return f"  {run.stage:<7} {run.seconds:6.1f} s  {run.brief}{reused}"


def _named(progress: ProgressFn | None, stage: str) -> ProgressFn | None:
    if progress is None:
        return None

    def update(done: int, total: int, description: str = "") -> None:
        progress(done, total, f"{stage}: {description}" if description and
                 description != stage else stage)

    return update
