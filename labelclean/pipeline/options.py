"""``labelclean run``'s own options (its ``[run]`` table)."""

from __future__ import annotations

from dataclasses import dataclass

from labelclean.backends.options import BackendOptions
from labelclean.config.options import NAMES, option


@dataclass(frozen=True)
class RunOptions(BackendOptions):
    """``[run]``: which stages to run and which to leave out, and where the per-image stages
    run (``backend``, ``ray_address``: the default of their ``[scan]``/``[embed]`` keys)."""

    stages: tuple[str, ...] | None = option(
        None, NAMES, "Comma-separated stages to run (default: scan, dedupe, embed, oof, noise, "
                     "report).", in_file=False)
    skip: tuple[str, ...] = option((), NAMES, "Comma-separated stages to leave out (e.g. "
                                              "embed).")
