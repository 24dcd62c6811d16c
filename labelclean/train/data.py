"""What one training run sees: which images, with which labels, trained on or held out.

Labels come from ``clean.csv`` (labelclean's cleaned split, relabels applied) or from the
given labels (``index.csv``). The held-out images are the trusted ``val_labels`` file, or a
stratified ``holdout`` fraction of the reference labels (``clean.csv`` when it exists, else
the given ones), so every method and labels source is scored on the same images with the
same labels. No copy of a held-out image is trained on, nor used as unlabeled data.
FixMatch's unlabeled rows are the images labelclean flagged (:mod:`labelclean.train.pools`)
and the ``unlabeled`` folder's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from labelclean.errors import ConfigError, MissingStageError, NoLabelsError
from labelclean.io.groups import in_row_order, workdir_groups
from labelclean.io.locations import image_location
from labelclean.io.workdir import CLEAN, fingerprint
from labelclean.train.holdout import holdout_mask, touching
from labelclean.train.pools import flagged_mask, folder_pool, readable_files, review_mask


@dataclass
class TrainData:
    """The images of one run (the "store": row ``i`` is ``paths[i]``) and their roles.

    ``labels`` (N,) int64 class codes into ``classes`` (-1: unlabeled); ``train_rows``,
    ``val_rows`` (held out, labeled with the reference or ``val_labels`` labels) and
    ``unlabeled_rows`` (FixMatch) are row numbers of the store. ``labels_from`` is
    ``clean`` or ``given``; ``held_out`` says where the held-out labels came from.
    """

    paths: list[str]
    ids: list[str]
    labels: np.ndarray
    train_rows: np.ndarray
    val_rows: np.ndarray
    unlabeled_rows: np.ndarray
    classes: list
    labels_from: str
    held_out: str
    notes: list[str] = field(default_factory=list)

    def key(self) -> str:
        """A fingerprint of the images, labels and roles (part of the resume key)."""
        return fingerprint(self.ids, self.labels.tolist(), self.train_rows.tolist(),
                           self.val_rows.tolist(), self.unlabeled_rows.tolist())


def _codes(values, classes: list, source: str) -> np.ndarray:
    """(N,) class codes of ``values`` (None: -1); a class outside ``classes`` is an error."""
    position = {str(c): i for i, c in enumerate(classes)}
    out = np.full(len(values), -1, dtype=np.int64)
    for i, v in enumerate(values):
        if v is None:
            continue
        if str(v) not in position:
            shown = ", ".join(str(c) for c in classes[:10])
            raise ConfigError(f"{source} has the label '{v}', which is not one of the "
                              f"classes of the scanned labels ({shown}); fix the file")
        out[i] = position[str(v)]
    return out


def _clean_codes(workdir: Path, index: pd.DataFrame, meta: dict, classes: list):
    """(N,) codes of ``clean.csv`` over the index rows (-1: not in it), or None without it."""
    from labelclean.io.labelsfile import label_values, read_labels_table

    path = workdir / CLEAN
    if not path.exists():
        return None
    kind = meta.get("kind")
    id_col = meta.get("id_col", "image_id") if kind == "csv" else "image_id"
    label_col = meta.get("label_col", "label") if kind == "csv" else "label"
    table = read_labels_table(path, id_col, label_col)
    by_id = dict(zip(table[id_col].str.strip(), label_values(table[label_col])))
    values = [by_id.get(str(i)) for i in index["image_id"]]
    return _codes(values, classes, str(path))


def _scan(workdir: Path):
    from labelclean.io.dataset import sort_classes
    from labelclean.io.formats import images_root, labeled_mask, read_index
    from labelclean.io.workdir import Workdir

    index = read_index(workdir)
    meta = (Workdir(workdir).read_record("scan") or {}).get("dataset") or {}
    labeled = labeled_mask(index)
    classes = list(meta.get("classes") or sort_classes(index.loc[labeled, "label"]))
    if not labeled.any():
        raise NoLabelsError(f"{workdir / 'index.csv'} has no labeled image; training needs "
                            "labels (pass `labels` FILE)")
    return index, meta, classes, images_root(workdir, required=True)


def _val_file(root: Path, path: str, meta: dict, classes: list, index: pd.DataFrame):
    """(index rows of the ``val_labels`` images, their codes, extra (path, code) rows for
    images not in the index, a note)."""
    from labelclean.io.dataset import load_dataset

    if not Path(path).is_file():
        raise ConfigError(f"`val_labels` {path} is not a file; give a CSV of trusted labels "
                          "with the labels file's columns")
    kind = meta.get("kind")
    ds = load_dataset(root, path, id_col=meta.get("id_col", "image_id") if kind == "csv"
                      else "image_id", label_col=meta.get("label_col", "label")
                      if kind == "csv" else "label", path_col=meta.get("path_col"))
    listed = [r for r in ds.records if r.label is not None]
    missing = sum(r.problem is not None for r in listed)
    listed = [r for r in listed if r.problem is None]
    codes = _codes([r.label for r in listed], classes, f"`val_labels` {path}")
    row_of = {p: i for i, p in enumerate(index["path"].astype(str))}
    readable = index["readable"].to_numpy(bool)
    rows, row_codes, extra = [], [], []
    for rec, code in zip(listed, codes):
        row = row_of.get(rec.path)
        if row is None:
            extra.append((image_location(root, rec.path, resolve=True), int(code)))
        elif readable[row]:
            rows.append(row)
            row_codes.append(int(code))
        else:
            missing += 1
    good, bad = readable_files([Path(p) for p, _ in extra])
    good_set = {str(p) for p in good}
    extra = [(p, c) for p, c in extra if p in good_set]
    note = (f"`val_labels` {path}: {missing + bad:,} images missing or unreadable, left out"
            if missing + bad else "")
    if not rows and not extra:
        raise ConfigError(f"`val_labels` {path} names no readable image of the images folder "
                          f"{root}; list held-out images that lie in it")
    return np.array(rows, dtype=np.int64), np.array(row_codes, dtype=np.int64), extra, note


def choose_labels(workdir: Path, labels_from: str) -> str:
    """``clean`` or ``given`` for ``labels_from`` (``auto``: clean when clean.csv exists)."""
    if labels_from not in ("auto", "clean", "given"):
        raise ConfigError(f"`labels_from` must be clean or given, not '{labels_from}'")
    has_clean = (Path(workdir) / CLEAN).exists()
    if labels_from == "auto":
        return "clean" if has_clean else "given"
    if labels_from == "clean" and not has_clean:
        raise MissingStageError(f"{Path(workdir) / CLEAN} does not exist: run 'labelclean "
                                "noise' first, or train on the given labels (`labels_from` "
                                "given)")
    return labels_from


@dataclass
class _Split:
    val_rows: np.ndarray  # index rows held out
    val_codes: np.ndarray
    extra: list  # (absolute path, code) held-out images not in the index
    excluded: np.ndarray  # (N,) bool: index rows that are copies of a held-out image
    held_out: str
    note: str = ""


def _split(root: Path, index, meta, classes, given, clean, groups, val_labels: str | None,
           holdout: float, seed: int) -> _Split:
    if val_labels:
        rows, codes, extra, note = _val_file(root, val_labels, meta, classes, index)
        return _Split(rows, codes, extra, touching(groups, rows),
                      f"`val_labels` {val_labels}", note)
    reference = clean if clean is not None else given
    candidates = np.flatnonzero((reference >= 0) & index["readable"].to_numpy(bool))
    held = candidates[holdout_mask(reference[candidates], groups[candidates], holdout, seed)]
    source = "clean.csv" if clean is not None else "the given labels"
    return _Split(held, reference[held], [], touching(groups, held),
                  f"`holdout` {holdout:g} of {source}" if len(held) else "none")


def load_train_data(workdir: str | Path, *, method: str = "ce", labels_from: str = "auto",
                    val_labels: str | None = None, holdout: float = 0.1, seed: int = 0,
                    unlabeled: str | None = None, group_col: str | None = None) -> TrainData:
    """The :class:`TrainData` of one run on a scanned work directory (see the module);
    ``group_col``: a labels-file column whose groups stay on one side of the split."""
    from labelclean.io.formats import read_manifest
    from labelclean.io.groups import groups_for_workdir

    wd = Path(workdir)
    source = choose_labels(wd, labels_from)
    index, meta, classes, root = _scan(wd)
    readable = index["readable"].to_numpy(bool)
    given = _codes(index["label"].tolist(), classes, str(wd / "index.csv"))
    clean = _clean_codes(wd, index, meta, classes)
    groups = in_row_order(workdir_groups(wd, index["image_id"], index["sha256"].fillna(""),
                                         groups_for_workdir(wd, group_col, index["image_id"])))
    split = _split(root, index, meta, classes, given, clean, groups, val_labels, holdout, seed)
    codes = clean if source == "clean" else given
    manifest = read_manifest(wd, required=False) if method == "fixmatch" else None
    train = (codes >= 0) & readable & ~split.excluded
    if method == "fixmatch" and source == "clean":
        train &= ~review_mask(index, manifest)
    pool = np.zeros(len(index), dtype=bool)
    if method == "fixmatch":
        pool = flagged_mask(index, manifest) & ~train & ~split.excluded
        pool &= ~touching(groups, np.flatnonzero(train))
    folder, folder_note = (folder_pool(unlabeled, index, root) if unlabeled and
                           method == "fixmatch" else ([], ""))
    return _assemble(index, root, codes, classes, train, split, pool, folder, source,
                     [n for n in (split.note, folder_note) if n])


def _assemble(index, root: Path, codes, classes, train, split: _Split, pool, folder,
              source: str, notes: list[str]) -> TrainData:
    used = np.flatnonzero(train | pool | np.isin(np.arange(len(index)), split.val_rows))
    where = {int(r): i for i, r in enumerate(used)}
    paths = [image_location(root, p, resolve=True) for p in index["path"].to_numpy(str)[used]]
    ids = index["image_id"].astype(str).to_numpy()[used].tolist()
    labels = np.where(train[used], codes[used], -1).astype(np.int64)
    val = [where[int(r)] for r in split.val_rows]
    labels[val] = split.val_codes
    for path, code in split.extra:
        paths.append(path)
        ids.append(Path(path).name)
        labels = np.append(labels, code)
        val.append(len(paths) - 1)
    unlabeled = [where[int(r)] for r in np.flatnonzero(pool)]
    for path in folder:
        paths.append(path)
        ids.append(Path(path).name)
        labels = np.append(labels, -1)
        unlabeled.append(len(paths) - 1)
    rows = [where[int(r)] for r in np.flatnonzero(train)]
    return TrainData(paths=paths, ids=ids, labels=labels, train_rows=np.array(rows, np.int64),
                     val_rows=np.array(val, np.int64),
                     unlabeled_rows=np.array(unlabeled, np.int64), classes=classes,
                     labels_from=source, held_out=split.held_out, notes=notes)


def check_method(data: TrainData, method: str) -> None:
    """One clear error when ``method`` cannot train on ``data``."""
    if not len(data.train_rows):
        raise NoLabelsError("no labeled image is left to train on once the held-out images "
                            "and their copies are set aside; lower `holdout`")
    if method == "dividemix":
        from labelclean.train.dividemix import check_dividemix

        check_dividemix(data.labels, data.train_rows, len(data.classes),
                        classes=[str(c) for c in data.classes])
    if method == "fixmatch":
        from labelclean.train.fixmatch import check_fixmatch

        check_fixmatch(data.train_rows, data.unlabeled_rows)
