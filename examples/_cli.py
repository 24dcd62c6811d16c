"""Command-line plumbing of the example scripts: run labelclean's commands as a user would
in a shell, and print a benchmark's tables (appending them to ``--report FILE``).

The commands run in this process (the same app ``labelclean`` and ``python -m labelclean``
run, with the same options, output and exit codes), so an example does not pay for a new
Python and its imports on every step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def _working_dir(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def invoke(*args: str, cwd: Path | None = None):
    """Run ``labelclean ARGS`` in ``cwd`` (default: here); the click Result (``exit_code``,
    ``stdout``, ``stderr``, ``output``). A bug in labelclean raises, with its traceback."""
    import labelclean.cli.main  # noqa: F401  (registers every command on the app)
    from labelclean.cli.app import app
    from typer.testing import CliRunner

    with _working_dir(cwd):
        return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def labelclean(*args: str, cwd: Path) -> str:
    """Run ``labelclean ARGS`` in ``cwd``, echo and return what it printed; stop on failure."""
    print(f"$ labelclean {' '.join(args)}")
    done = invoke(*args, cwd=cwd)
    print(done.output)
    if done.exit_code != 0:
        raise SystemExit(f"labelclean {args[0]} failed with exit code {done.exit_code}")
    return done.stdout


def show(text: str, report: Path | None) -> None:
    """Print a benchmark's ``text`` and, with ``report`` (its ``--report FILE``), append it
    there after a blank line."""
    print(text)
    if report:
        with open(report, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
