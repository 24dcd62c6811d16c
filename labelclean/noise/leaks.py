"""The dedupe stage's findings the noise stage adds to the manifest: leaks and groups.

* ``large_group``: a copy in a duplicate group that reached the size limit (action
  ``review``, not ``drop``: such a group is not trusted).
* ``leak``: the image copies an image of another set (``leaks.csv`` from ``labelclean
  dedupe --against DIR``): action ``review`` by default, ``drop`` when that dedupe run had
  ``--drop-leaks`` (its stage record's ``drop_leaks``).
* :func:`dedupe_summary`: counts for ``summary.json`` — leaked images, related pairs kept
  out of groups, duplicate groups flagged for their size, and the user's groups of the oof
  folds (``group_col``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def leak_findings(workdir: str | Path, image_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """``{"leak", "leak_drop", "leak_review", "large_group"}``: (M,) bool over ``image_ids``
    (the labeled rows, in order); those without a file or finding are left out."""
    from labelclean.io.dedupe_files import read_leaks
    from labelclean.io.workdir import Workdir

    record = Workdir(workdir).read_record("dedupe") or {}
    found = _large_group_copies(workdir, image_ids, record)
    leaks = read_leaks(workdir, required=False)
    if leaks is None:
        return found
    leaked = set(leaks["image_id"].astype(str))
    mask = np.array([str(i) in leaked for i in image_ids], dtype=bool)
    drop = bool((record.get("params") or {}).get("drop_leaks", False))
    return {**found, "leak": mask, "leak_drop": mask & drop, "leak_review": mask & (not drop)}


def _large_group_copies(workdir, image_ids, record) -> dict[str, np.ndarray]:
    """``{"large_group"}``: the copies (not the kept image) of the duplicate groups that
    reached the size limit, which go to review instead of being dropped as copies."""
    from labelclean.io.formats import read_duplicates

    large = set((record.get("summary") or {}).get("large_groups") or [])
    if not large:
        return {}
    table = read_duplicates(workdir, required=False, typed=True)
    if table is None:
        return {}
    rows = table[table["group_id"].isin(large) & ~table["keep"]]
    copies = set(rows["image_id"].astype(str))
    return {"large_group": np.array([str(i) in copies for i in image_ids], dtype=bool)}


def dedupe_summary(workdir: str | Path) -> dict[str, Any]:
    """``summary.json``'s counts from the dedupe and oof stages (absent ones left out)."""
    from labelclean.io.workdir import Workdir

    wd = Workdir(workdir)
    dedupe = (wd.read_record("dedupe") or {}).get("summary") or {}
    oof = (wd.read_record("oof") or {}).get("summary") or {}
    out: dict[str, Any] = {}
    for key in ("leaked_images", "related_pairs", "large_groups", "group_limit"):
        if key in dedupe:
            out[key] = dedupe[key]
    if "user_groups" in oof:
        out.update(group_col=(oof.get("params") or {}).get("group_col"),
                   user_groups=oof["user_groups"])
    return {"dedupe": out} if out else {}
