"""The report's image-quality section: what ``quality.csv`` found, with examples.

Shown when the scan wrote ``quality.csv``: one row per issue (dark, light, blurry,
low_information, grayscale, odd_aspect_ratio, odd_size, outlier) with how many images have
it and what it means, and the worst examples of each (lowest score first, the score shown,
lower is worse) as thumbnails in ``assets/quality/``. The gallery's *Reason* filter shows
every image of one finding.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.io.formats import read_index
from labelclean.io.locations import image_location
from labelclean.io.qualityfile import QUALITY_ISSUES, read_quality

#: Examples shown per issue.
EXAMPLES = 8
MEANING = {
    "dark": "too dark: the brightest part is dim",
    "light": "overexposed: a large share of clipped white",
    "blurry": "little fine detail for its coarse detail",
    "low_information": "nearly blank: the luma barely varies",
    "grayscale": "grey in a colour dataset",
    "odd_aspect_ratio": "much wider or taller than the dataset's usual shape",
    "odd_size": "much smaller or larger than the dataset's usual size",
    "outlier": "far from every other image in embedding space",
}


def quality_section(workdir: str | os.PathLike, root: Path, assets: Path, *,
                    size: int, workers: int | None = None, force: bool = False,
                    outliers_from: str | None = None) -> dict[str, Any] | None:
    """The template's ``quality`` value (None without ``quality.csv``): ``issues`` (name,
    meaning, count, share, examples: image_id, path, score, thumb), ``images`` (how many were
    checked), ``outliers_from`` (which embeddings, None when outliers were not scored)."""
    from labelclean.report.thumbnails import make_thumbnails

    table = read_quality(workdir, required=False)
    if table is None:
        return None
    index = read_index(workdir)
    path_of = dict(zip(index["image_id"].astype(str), index["path"].astype(str)))
    names = table["issues"].fillna("").astype(str).str.split(";")
    issues, wanted = [], {}
    for issue in QUALITY_ISSUES:
        hit = names.map(lambda n, i=issue: i in n).to_numpy(bool)
        rows = table.loc[hit].sort_values(f"{issue}_score", kind="stable").head(EXAMPLES)
        examples = [{"image_id": str(i), "path": path_of.get(str(i), ""),
                     "score": None if np.isnan(s) else round(float(s), 3)}
                    for i, s in zip(rows["image_id"], rows[f"{issue}_score"])]
        wanted.update((e["path"], image_location(root, e["path"])) for e in examples
                      if e["path"])
        issues.append({"name": issue, "meaning": MEANING[issue], "count": int(hit.sum()),
                       "share": float(hit.mean()) if len(hit) else 0.0,
                       "examples": examples})
    thumbs, _ = make_thumbnails(wanted, assets / "quality", size=size, workers=workers,
                                force=force)
    for item in issues:
        for example in item["examples"]:
            name = thumbs.get(example["path"])
            example["thumb"] = f"assets/quality/{name}" if name else ""
    scored = table["outlier_score"].notna().any()
    return {"issues": issues, "images": int(len(table)),
            "outliers_from": outliers_from if scored else None}
