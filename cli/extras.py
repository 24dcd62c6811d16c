"""What some stage commands take beyond their stage's options: display switches, actions
and dataset overrides. Every other part of a stage command comes from the stage registry."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .app import out


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


TOP = _keyword("top", Annotated[int, typer.Option("--top", min=0, help="Groups to list.")], 5)
LIST_MODELS = _keyword("list_models", Annotated[bool, typer.Option(
    "--list-models", help="List the named backbones and exit.")], False)
CLASS_NAMES = _keyword("class_names", Annotated[Optional[Path], typer.Option(
    "--class-names", show_default=False,
    help='JSON file {"label": "name"} (overrides labelclean.toml).')], None)


def list_models(values: dict[str, Any]) -> bool:
    """With ``--list-models``: print the named backbones, and the command is done."""
    if not values["list_models"]:
        return False
    from labelclean.models.backbones import BACKBONES, list_backbones

    for name in list_backbones():
        b = BACKBONES[name]
        out.print(f"{name:<16} {b.timm_name}\n{'':<16} {b.notes}")
    return True


#: stage -> keyword arguments of :func:`cli.stages.stage_command`
EXTRAS: dict[str, dict[str, Any]] = {
    "dedupe": {"extras": (TOP,), "display": ("top",)},
    "embed": {"extras": (LIST_MODELS,), "before": list_models},
    "report": {"extras": (CLASS_NAMES,), "overrides": ("class_names",)},
    "train": {"log_steps": True},
}
