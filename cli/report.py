"""``labelclean report``: the HTML gallery a person reviews, edits and exports."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Optional

import typer

from .stages import stage_command

CLASS_NAMES = inspect.Parameter(
    "class_names", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[Path], typer.Option("--class-names", show_default=False,
                                     help='JSON file {"label": "name"} (overrides '
                                          'labelclean.toml).')])

stage_command("report", extras=(CLASS_NAMES,), overrides=("class_names",))
