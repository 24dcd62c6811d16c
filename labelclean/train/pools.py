"""Images without a trusted label for FixMatch: the ones labelclean flagged, and a folder
of extra photos.

The flagged pool is every image ``manifest.csv`` sent to review or dropped as a label issue
(never an unreadable file nor a redundant copy); the caller removes the images that are
copies of a labeled or held-out one. A folder's files are decoded once here, so an
unreadable one never reaches training, and exact copies of a scanned image are left out.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from labelclean.errors import ConfigError


def flagged_mask(index: pd.DataFrame, manifest: pd.DataFrame | None) -> np.ndarray:
    """(N,) bool over ``index`` rows: readable images the manifest sent to ``review`` or
    dropped as a ``label_issue`` (not ``unreadable``, not a ``duplicate_copy``, not a
    ``leak``: a copy of another set's image is never trained on, not even unlabeled)."""
    mask = np.zeros(len(index), dtype=bool)
    if manifest is None or not len(manifest):
        return mask
    reason = manifest["reason"].fillna("").astype(str)
    action = manifest["action"].astype(str)
    dropped_issue = (action == "drop") & reason.str.contains("label_issue", regex=False)
    copy_or_bad = reason.str.contains("duplicate_copy|unreadable|leak", regex=True)
    picked = set(manifest.loc[((action == "review") | dropped_issue) & ~copy_or_bad,
                              "image_id"].astype(str))
    mask[:] = index["image_id"].astype(str).isin(picked).to_numpy()
    return mask & index["readable"].to_numpy(bool)


def review_mask(index: pd.DataFrame, manifest: pd.DataFrame | None) -> np.ndarray:
    """(N,) bool over ``index`` rows: the images the manifest sent to ``review`` (kept in
    ``clean.csv`` with their given label, which FixMatch does not trust)."""
    if manifest is None or not len(manifest):
        return np.zeros(len(index), dtype=bool)
    ids = set(manifest.loc[manifest["action"].astype(str) == "review", "image_id"].astype(str))
    return index["image_id"].astype(str).isin(ids).to_numpy()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def readable_files(paths: list[Path]) -> tuple[list[Path], int]:
    """(the files of ``paths`` that decode, how many did not)."""
    from labelclean.io.imageio import load_rgb

    good, bad = [], 0
    for path in paths:
        try:
            load_rgb(str(path), max_side=64)
        except Exception:  # bad data is data: an unreadable file is left out
            bad += 1
            continue
        good.append(path)
    return good, bad


def folder_pool(folder: str | Path, index: pd.DataFrame, images_root: Path | None
                ) -> tuple[list[str], str]:
    """(absolute paths of the readable images of ``folder`` that are not byte copies of a
    scanned image, a note on the ones left out). ``folder`` may not be the images folder."""
    from labelclean.io.dataset import list_image_files

    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"`unlabeled` must be a folder of images, but {root} is not a folder")
    if images_root is not None and root.resolve() == Path(images_root).resolve():
        raise ConfigError(f"`unlabeled` {root} is the images folder itself; its images are "
                          "already labeled: name a folder of other images")
    files = [root / f for f in list_image_files(root)]
    good, bad = readable_files(files)
    scanned = set(index["sha256"].astype(str))
    kept = [p for p in good if _sha256(p) not in scanned]
    copies = len(good) - len(kept)
    parts = [f"{bad:,} unreadable"] if bad else []
    parts += [f"{copies:,} exact cop{'y' if copies == 1 else 'ies'} of scanned images"
              ] if copies else []
    note = (f"`unlabeled` {root}: left out {', '.join(parts)}" if parts else "")
    return [str(p.resolve()) for p in kept], note
