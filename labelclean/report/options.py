"""The report stage's options (one declaration: CLI flags, project-file keys, defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from labelclean.config.options import INT, PATH, option

#: thumbnail side of the gallery, in pixels
DEFAULT_THUMB_SIZE = 160


@dataclass(frozen=True)
class ReportOptions:
    """``[report]``: where the gallery goes, which probabilities it shows, thumbnails."""

    out: str | None = option(None, PATH, "Report folder (default: WORKDIR/report).")
    oof: str | None = option(
        None, PATH, "Out-of-fold probabilities for the top-3 column (default: what "
                    "'labelclean noise' scored, else WORKDIR/oof.csv).")
    thumb_size: int = option(DEFAULT_THUMB_SIZE, INT, "Thumbnail side in pixels, 16 to 1024 "
                                                      "(default: 160).", low=16, high=1024)
    workers: int | None = option(None, INT, "Processes for thumbnails (default: all cores).",
                                 low=1)
