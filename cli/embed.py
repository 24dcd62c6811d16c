"""``labelclean embed``: one pooled feature vector per image, resumable."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer

from .app import out
from .stages import stage_command

LIST_MODELS = inspect.Parameter(
    "list_models", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
        bool, typer.Option("--list-models", help="List the named backbones and exit.")])


def list_models(values: dict[str, Any]) -> bool:
    """With ``--list-models``: print the named backbones, and the command is done."""
    if not values["list_models"]:
        return False
    from labelclean.models.backbones import BACKBONES, list_backbones

    for name in list_backbones():
        b = BACKBONES[name]
        out.print(f"{name:<16} {b.timm_name}\n{'':<16} {b.notes}")
    return True


stage_command("embed", extras=(LIST_MODELS,), before=list_models)
