"""The report's section on what the dedupe stage kept apart: leaks, related pairs, groups.

Shown when there is something to say: this dataset's images that copy another set's
(``leaks.csv``, from ``labelclean dedupe --against DIR``; each is a ``leak`` reason in the
manifest), the confirmed pairs kept out of one group (``related.csv``: a chain of copies
that would have joined distinct pictures), duplicate groups flagged for their size, and
the user's groups the oof folds kept whole (``group_col``).
"""

from __future__ import annotations

import os
from typing import Any

#: Rows of leaks.csv and related.csv shown (the files hold them all).
ROWS = 200


def leaks_section(workdir: str | os.PathLike) -> dict[str, Any] | None:
    """The template's ``leaks`` value, or None when there is nothing to show: ``leaks``
    (rows of leaks.csv, ``total``), ``related`` (rows, ``related_total``), ``large_groups``
    (duplicates.csv group ids), ``group_limit``, ``group_col``, ``user_groups``."""
    from labelclean.io.dedupe_files import read_leaks, read_related
    from labelclean.io.workdir import Workdir

    wd = Workdir(workdir)
    leaks = read_leaks(wd.root, required=False)
    related = read_related(wd.root, required=False)
    dedupe = (wd.read_record("dedupe") or {}).get("summary") or {}
    oof = (wd.read_record("oof") or {}).get("summary") or {}
    section = {
        "leaks": [] if leaks is None else leaks.head(ROWS).to_dict("records"),
        "total": 0 if leaks is None else len(leaks),
        "leaked_images": 0 if leaks is None else int(leaks["image_id"].nunique()),
        "related": [] if related is None else related.head(ROWS).to_dict("records"),
        "related_total": 0 if related is None else len(related),
        "large_groups": dedupe.get("large_groups") or [],
        "group_limit": dedupe.get("group_limit"),
        "group_col": (oof.get("params") or {}).get("group_col") if "user_groups" in oof
        else None, "user_groups": oof.get("user_groups"),
    }
    if not (section["total"] or section["related_total"] or section["large_groups"]
            or section["group_col"]):
        return None
    return section
