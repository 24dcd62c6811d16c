"""``labelclean run``'s own options (its ``[run]`` table)."""

from __future__ import annotations

from dataclasses import dataclass

from labelclean.config.options import NAMES, option


@dataclass(frozen=True)
class RunOptions:
    """``[run]``: which stages to run and which to leave out."""

    stages: tuple[str, ...] | None = option(
        None, NAMES, "Comma-separated stages to run (default: scan, dedupe, embed, oof, noise, "
                     "report).", in_file=False)
    skip: tuple[str, ...] = option((), NAMES, "Comma-separated stages to leave out (e.g. "
                                              "embed).")
