"""``labelclean dedupe``: exact copies, same-pixel copies and near copies -> duplicates.csv."""

from __future__ import annotations

import inspect
from typing import Annotated

import typer

from .stages import stage_command

TOP = inspect.Parameter("top", inspect.Parameter.KEYWORD_ONLY, default=5, annotation=Annotated[
    int, typer.Option("--top", min=0, help="Groups to list.")])

stage_command("dedupe", extras=(TOP,), display=("top",))
