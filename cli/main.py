"""Entry point: ``labelclean`` and ``python -m labelclean``."""

from __future__ import annotations

# importing a command module registers its commands on the app
from . import apply, demo, predict, project, run  # noqa: F401  (init, apply, run, demo, predict)
from .app import app
from .stages import register_stage_commands

register_stage_commands()  # scan, dedupe, embed, oof, noise, report: from the stage registry


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
