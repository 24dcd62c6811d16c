"""The typer app and the decorator every command is registered with.

:func:`command` turns a :class:`~labelclean.errors.LabelcleanError` into ``Error: ...`` on
stderr and exit code 1, so no user mistake ever shows a traceback; so is an operating-system
error of the environment (read-only, disk full, permission denied) the library did not
name, and Ctrl-C is one ``Error:`` line and exit code 130.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import typer
from rich.console import Console
from typer.core import TyperGroup

from labelclean.errors import LabelcleanError, environment_error

#: Commands in the order a user runs them (``--help`` lists them so).
COMMAND_ORDER = ("init", "scan", "dedupe", "embed", "oof", "noise", "report", "apply", "train",
                 "predict", "run", "demo")


#: what Ctrl-C prints (the exit status is 130, as for any program it stops)
INTERRUPTED = ("interrupted; finished stages are kept, the unfinished one left no "
               "half-written file, and a re-run resumes")

#: click's UsageError as typer raises it (typer may carry its own copy of click).
USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class PipelineOrderGroup(TyperGroup):
    """Lists commands in pipeline order rather than in the order they were registered."""

    def invoke(self, ctx):
        """Run the command; a bad option or argument is a user mistake like any other:
        one ``Error:`` line naming it and where the valid values are, and exit 1."""
        try:
            return super().invoke(ctx)
        except USAGE_ERROR as exc:
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            raise fail(f"{exc.format_message()} (see '{where} --help')") from None

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


app = typer.Typer(
    cls=PipelineOrderGroup,
    name="labelclean",
    help="Find duplicates, wrong labels and broken files in an image-classification "
         "dataset, review them in a gallery, and write a cleaned labels file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """Print ``Error: message`` to stderr and return the exit to raise."""
    err.print(f"Error: {message}", markup=False)
    return typer.Exit(code=1)


def option_namer(stage: str | None, failed: str | None = None) -> Callable[[str], str]:
    """How a command shows the option names (```key```) in what the library says: as the
    flag in a stage's own command (``--flag``), as ``[stage] key`` for the options of the
    stage that ``labelclean run`` ran (``failed``); other names (``labels``) as their flag."""
    from labelclean.config.options import option_words, specs
    from labelclean.pipeline.stages import STAGES

    owner = failed or stage
    declared = specs(STAGES[owner].options) if owner in STAGES else []
    flags = {s.key: s.flags[0] for s in declared if s.flags}
    if failed is not None:
        flags = {s.key: f"[{failed}] {s.key}" for s in declared}
    return lambda text: option_words(text, lambda key: flags.get(
        key, "--" + key.replace("_", "-")))


def error_text(exc: LabelcleanError, stage: str | None) -> str:
    """The message of a library error as the user reads it (:func:`option_namer`); an error
    of an optional stage under ``labelclean run`` (``exc.stage``) also says how to skip it."""
    from labelclean.pipeline.stages import STAGES

    failed = getattr(exc, "stage", None)
    text = option_namer(stage, failed)(str(exc))
    why = STAGES[failed].optional if failed in STAGES else ""
    return text + (f"; or leave the stage out: 'labelclean run --skip {failed}' ({why})"
                   if why else "")


def command(*args, stage: str | None = None, **kwargs) -> Callable:
    """Register a command on :data:`app`, mapping user errors to ``Error:`` + exit 1.

    ``stage`` names the stage whose options the command takes (for the error messages).
    """

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            try:
                return fn(*a, **kw)
            except LabelcleanError as exc:
                raise fail(error_text(exc, stage)) from None
            except KeyboardInterrupt:
                fail(INTERRUPTED)
                raise typer.Exit(code=130) from None
            except OSError as exc:  # the last resort: read-only, disk full, permission denied
                mapped = environment_error(exc, option=None, verb="access")
                if mapped is None:
                    raise
                raise fail(error_text(mapped, stage)) from None

        return app.command(*args, **kwargs)(wrapper)

    return decorate
