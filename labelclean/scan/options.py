"""The scan stage's options (one declaration: CLI flags, project-file keys, defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from labelclean.config.options import INT, NAMES, option


@dataclass(frozen=True)
class ScanOptions:
    """``[scan]``: which perceptual hashes the single decode computes, and how many
    processes decode."""

    hash: tuple[str, ...] = option(
        ("phash",), NAMES, "Perceptual hashes to compute, comma-separated (phash, dhash, "
                           "ahash, whash); default phash.")
    workers: int | None = option(None, INT, "Processes (default: all cores).", low=1)
