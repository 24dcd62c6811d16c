"""Entry point: ``labelclean`` and ``python -m labelclean``."""

from __future__ import annotations

from . import demo, embed, noise, project, report, scan  # noqa: F401  (registers the commands)
from .app import app


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
