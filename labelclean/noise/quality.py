"""The image-quality findings of the noise stage: ``quality.csv`` with outliers added.

:func:`quality_findings` reads the scan's ``quality.csv``, scores outliers from the
embeddings (:mod:`labelclean.noise.outliers`), and gives each labeled image one finding per
quality issue (its name, for ``reason``) plus ``quality_drop`` (an issue ``[noise] drop``
lists) and ``quality_review`` (any other), the optional findings of the precedence table
(:mod:`labelclean.noise.decide`). The updated table is written back by the stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelclean.errors import ConfigError
from labelclean.noise.decide import QUALITY_REASONS
from labelclean.noise.outliers import DEFAULT_IQR, SOURCES, Outliers, find_outliers


@dataclass
class QualityFindings:
    """``findings``: name -> (M,) bool over the labeled rows; ``table``: ``quality.csv``
    with the outlier scores (None when the scan wrote none); ``outliers``: their figures
    (None without embeddings); ``counts``: images per issue over all scanned images."""

    findings: dict[str, np.ndarray] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    outliers: Outliers | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        o = self.outliers
        return {"outliers_from": o.source if o else None,
                "outlier_threshold": None if o is None or not np.isfinite(o.threshold)
                else round(o.threshold, 6)}


def check_drop(names: Sequence[str]) -> list[str]:
    """``[noise] drop`` names, checked against the quality issues."""
    unknown = [n for n in names if n not in QUALITY_REASONS]
    if unknown:
        raise ConfigError(f"`drop` lists {', '.join(unknown)}; it may list the image-quality "
                          f"issues {', '.join(QUALITY_REASONS)}")
    return list(names)


def quality_findings(workdir: str | Path, image_ids: Sequence[str], *,
                     drop: Sequence[str] = (), outliers_from: str = "auto",
                     outlier_k: int | None = None, outlier_iqr: float = DEFAULT_IQR
                     ) -> QualityFindings:
    """The quality findings of the images ``image_ids`` (M,) (the labeled rows, in manifest
    order) from the work directory's ``quality.csv`` and embeddings."""
    from labelclean.io.qualityfile import read_quality
    from labelclean.scan.quality import issue_counts, with_outliers

    drop = check_drop(drop)
    if outliers_from not in SOURCES:
        raise ConfigError(f"`outliers_from` must be one of {', '.join(SOURCES)}, not "
                          f"{outliers_from!r}")
    table = read_quality(workdir, required=False)
    if table is None:
        return QualityFindings()
    outliers = find_outliers(workdir, len(table), source=outliers_from, k=outlier_k,
                             iqr=outlier_iqr)
    if outliers is not None:
        table = with_outliers(table, outliers.score, outliers.flagged)
    issues = pd.Series(table["issues"].fillna("").astype(str).to_numpy(),
                       index=table["image_id"].astype(str))
    mine = issues.reindex(pd.Index(image_ids).astype(str)).fillna("").str.split(";")
    findings = {name: mine.map(lambda names, n=name: n in names).to_numpy(bool)
                for name in QUALITY_REASONS}
    dropped = np.zeros(len(mine), bool)
    for name in drop:
        dropped |= findings[name]
    reviewed = np.zeros(len(mine), bool)
    for name in QUALITY_REASONS:
        if name not in drop:
            reviewed |= findings[name]
    findings.update(quality_drop=dropped, quality_review=reviewed & ~dropped)
    return QualityFindings(findings, table, outliers, issue_counts(table))
