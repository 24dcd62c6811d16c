"""Stage commands made from the stage registry.

Each option of a stage's options dataclass becomes one command-line option with the flag,
type, range and help it was declared with (:func:`labelclean.config.options.option`), so
the command line and ``labelclean.toml`` can never disagree. A command body is then: load
the project, resolve the options (command line over project file over default), run the
stage with a progress bar, print its lines.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from labelclean.config.options import (
    BOOL,
    INT,
    NAMES,
    NUMBER,
    PATH,
    PATHS,
    OptionSpec,
    as_names,
    specs,
)
from labelclean.pipeline.stages import DATASET, get_stage

from .app import command, err, option_namer, out
from .common import (
    COMMON_OPTIONS,
    FORCE_OPTION,
    load,
    load_scanned,
    progress_bar,
    workdir_locked,
)

_TYPES = {INT: int, NUMBER: float, PATH: Path, NAMES: str, PATHS: list[Path]}


def parameter(spec: OptionSpec) -> inspect.Parameter:
    """The typer parameter of one stage option (None default: 'not given')."""
    bounds = {"min": spec.low, "max": spec.high} if spec.kind in (INT, NUMBER) else {}
    if spec.kind == BOOL and "/" not in spec.flag:
        info = typer.Option(spec.flag, help=spec.help)
        return inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=False,
                                 annotation=Annotated[bool, info])
    kind = bool if spec.kind == BOOL else _TYPES.get(spec.kind, str)
    info = typer.Option(spec.flag, help=spec.help, show_default=False, **bounds)
    return inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[kind], info])


def given_options(option_specs: list[OptionSpec], values: dict[str, Any]) -> dict[str, Any]:
    """What the command line set, by field name (flags left off are None)."""
    given: dict[str, Any] = {}
    for spec in option_specs:
        value = values.get(spec.name)
        if spec.kind == BOOL and "/" not in spec.flag:
            value = True if value else None
        elif spec.kind == NAMES and value is not None:
            value = tuple(as_names(value)) or None
        elif spec.kind == PATHS:
            value = tuple(value) if value else None
        given[spec.name] = value
    return given


def with_signature(body: Callable, params: list[inspect.Parameter], doc: str) -> Callable:
    """``body(**values)`` presented to typer as a function of ``params``."""
    body.__signature__ = inspect.Signature(params)
    body.__annotations__ = {p.name: p.annotation for p in params}
    body.__doc__ = doc
    return body


def stage_command(name: str, *, extras: tuple[inspect.Parameter, ...] = (),
                  before: Callable[[dict[str, Any]], bool] | None = None,
                  overrides: tuple[str, ...] = (), display: tuple[str, ...] = (),
                  log_steps: bool = False) -> None:
    """Register the command of stage ``name``.

    ``extras`` are further parameters: ``overrides`` name those passed to the project
    (e.g. ``class_names``), ``display`` those passed to the result's ``lines`` (e.g. dedupe's
    ``top``); ``before(values)`` may handle the command itself (returns True when done);
    ``log_steps``: a line per progress step when stderr is not a terminal.
    """
    stage = get_stage(name)
    option_specs = [s for s in specs(stage.options) if s.flags]
    params = list(COMMON_OPTIONS) + ([FORCE_OPTION] if stage.reuses else [])
    params += [parameter(s) for s in option_specs] + list(extras)

    def body(**values: Any) -> None:
        if before is not None and before(values):
            return
        loader = load if stage.needs == DATASET else load_scanned
        project = loader(values["config"], values["images"], values["labels"],
                         values["workdir"], **{k: values[k] for k in overrides})
        options = stage.resolve(project, given_options(option_specs, values))
        with workdir_locked(project, values["wait"]), \
                progress_bar(name, log_steps=log_steps) as progress:
            result = stage.run(project, options, force=values.get("force", False),
                               progress=progress)
        say = option_namer(name)
        for line in result.lines(**{k: values[k] for k in display}):
            out.print(say(line), markup=False)
        for warning in result.warnings:
            err.print(f"Warning: {say(warning)}", markup=False)

    command(name, stage=name)(with_signature(body, params, stage.help))


def register_stage_commands() -> None:
    """One command per registered stage, in pipeline order, with its :data:`EXTRAS`."""
    from labelclean.pipeline.stages import STAGES

    from .extras import EXTRAS

    for name in STAGES:
        stage_command(name, **EXTRAS.get(name, {}))
