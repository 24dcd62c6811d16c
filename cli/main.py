"""Entry point: ``labelclean`` and ``python -m labelclean``."""

from __future__ import annotations

# importing a command module registers its commands on the app
from . import dedupe, demo, embed, noise, oof, project, report, run, scan  # noqa: F401
from .app import app


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
