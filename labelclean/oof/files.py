"""Reading out-of-fold (OOF) predictions the way people actually save them, and checking them.

Accepted files:

* CSV or Parquet with an id column and one probability column per class, named by the
  class value (``3``, ``cbb``), ``prob_<class>``, ``pred_<class>`` or ``<class>_prob``;
  optional ``label`` and ``fold`` columns. ``oof.csv`` written by ``labelclean oof``
  (``image_id, label, fold, <one column per class>``) needs no options.
* ``.npy``: an (N, K) array, one row per labeled image in labels-file order, columns in
  class order.

Logits are soft-maxed only when asked (``logits=True``), never guessed. Every check runs
before anything is computed and raises :class:`~labelclean.errors.OOFError` with the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelclean.errors import OOFError, RegistryError

#: Names recognised as the id column, in order of preference (after an explicit one).
ID_COLUMNS = ("image_id", "id", "image", "filename", "file", "path")
#: Columns that are never class probabilities.
META_COLUMNS = ("label", "fold", "kfold", "target", "given_label")
#: A row of probabilities may miss 1 by this much (files often round to 3-4 decimals).
SUM_TOLERANCE = 1e-2
#: Agreement with the given labels at or above this looks like in-fold predictions.
SUSPICIOUS_ACCURACY = 0.995
COLUMN_STYLES = "name them by class value, prob_<class>, pred_<class> or <class>_prob"
ENSEMBLES = ("mean", "weighted", "accuracy")


@dataclass
class OOFTable:
    """One OOF file, read and checked.

    ``probs`` is (N, K) float64 in class order, rows summing to 1 (soft-maxed if the file
    held logits). ``ids`` is (N,) strings, or ``None`` for a ``.npy`` (labels-file order).
    ``labels`` holds the file's own label column as strings, if it had one.
    """

    source: str
    probs: np.ndarray
    ids: np.ndarray | None = None
    labels: np.ndarray | None = None
    columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def list_ensembles() -> list[str]:
    """Ways of combining several OOF files."""
    return list(ENSEMBLES)


def _name(path: Path) -> str:
    return f"OOF file {path}"


def _first(values: Sequence[Any], n: int = 3) -> str:
    return ", ".join(str(v) for v in list(values)[:n])


# -- reading ------------------------------------------------------------------------------

def read_oof(path: str | Path, classes: Sequence[Any], *, id_col: str | None = None,
             label_col: str | None = None, logits: bool = False) -> OOFTable:
    """Read and check one OOF file (``.csv``, ``.parquet``/``.pq`` or ``.npy``).

    Parameters
    ----------
    path : the file.
    classes : the dataset's K classes, in the order the probability columns are returned.
    id_col : the id column; default: the first of :data:`ID_COLUMNS` present.
    label_col : the labels file's label column (also treated as a non-probability column).
    logits : soft-max each row (the file holds logits); without it, values must already be
        probabilities.

    Returns an :class:`OOFTable` with ``probs`` of shape (N, K).
    """
    path = Path(path)
    if not path.exists():
        raise OOFError(f"{_name(path)} does not exist; pass the path of your out-of-fold "
                       "predictions, or make them with 'labelclean oof'")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        table = _read_npy(path, len(classes))
    elif suffix in (".csv", ".parquet", ".pq", ".tsv", ".txt"):
        table = _read_table(path, classes, id_col, label_col)
    else:
        raise OOFError(f"{_name(path)}: unsupported format '{path.suffix}'; expected .csv, "
                       ".parquet or .npy")
    table.probs = check_probabilities(table.probs, table.source, table.ids, logits=logits,
                                      warnings=table.warnings)
    return table


def _read_npy(path: Path, n_classes: int) -> OOFTable:
    with open(path, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise OOFError(f"{_name(path)} is not a NumPy .npy file (it has no .npy header); "
                           "save the (N, K) array with numpy.save, or pass a CSV or Parquet")
    try:
        probs = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise OOFError(f"{_name(path)} cannot be read as a NumPy array ({exc})") from None
    if probs.ndim != 2:
        raise OOFError(f"{_name(path)}: expected a 2-d array (N, K), found shape "
                       f"{tuple(probs.shape)}")
    if probs.shape[1] != n_classes:
        raise OOFError(f"{_name(path)}: expected {n_classes} probability columns (one per "
                       f"class), found {probs.shape[1]}; a .npy must hold one column per "
                       "class, in class order")
    return OOFTable(source=_name(path), probs=np.asarray(probs, dtype=np.float64))


def _header(path: Path) -> tuple[list[str], str]:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        line = fh.readline().rstrip("\r\n")
    counts = {d: line.count(d) for d in (",", "\t", ";", "|")}
    delimiter = max(counts, key=counts.get)
    return [c.strip().strip('"') for c in line.split(delimiter)], delimiter


def _read_table(path: Path, classes: Sequence[Any], id_col: str | None,
                label_col: str | None) -> OOFTable:
    source = _name(path)
    parquet = path.suffix.lower() in (".parquet", ".pq")
    if parquet:
        import pyarrow.parquet as pq

        try:
            columns = [str(c) for c in pq.read_schema(path).names]
        except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
            raise OOFError(f"{source} cannot be read as Parquet ({exc})") from None
        delimiter = ","
    else:
        columns, delimiter = _header(path)
    id_name = _id_column(source, columns, id_col)
    meta = {id_name, label_col, *META_COLUMNS} - {None}
    class_cols = match_class_columns(source, [c for c in columns if c not in meta], classes)
    label_name = next((c for c in (label_col, "label") if c and c in columns and c != id_name),
                      None)
    wanted = [id_name, *( [label_name] if label_name else []), *class_cols]
    arrow = _read_parquet(path, wanted) if parquet else _read_csv(path, wanted, id_name,
                                                                  label_name, delimiter)
    ids = _strings(arrow.column(id_name))
    probs = np.column_stack([arrow.column(c).cast("float64").to_numpy(zero_copy_only=False)
                             for c in class_cols]) if len(ids) else np.zeros((0, len(classes)))
    labels = _strings(arrow.column(label_name)) if label_name else None
    _check_unique_ids(source, ids)
    return OOFTable(source=source, probs=probs, ids=ids, labels=labels, columns=class_cols)


def _strings(column) -> np.ndarray:
    """An arrow column as an object array of stripped strings."""
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(column.cast("string"))
    return np.asarray(trimmed.to_numpy(zero_copy_only=False), dtype=object)


def _read_csv(path: Path, wanted: list[str], id_name: str, label_name: str | None,
              delimiter: str):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {c: pa.float64() for c in wanted}
    types[id_name] = pa.string()
    if label_name:
        types[label_name] = pa.string()
    try:
        return pacsv.read_csv(
            path, parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=wanted,
                                                 strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise OOFError(f"{_name(path)} cannot be parsed as CSV with numeric probability "
                       f"columns ({exc})") from None


def _read_parquet(path: Path, wanted: list[str]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=wanted)
    except (pa.ArrowInvalid, OSError) as exc:
        raise OOFError(f"{_name(path)} cannot be read as Parquet ({exc})") from None


def _id_column(source: str, columns: list[str], id_col: str | None) -> str:
    candidates = [id_col] if id_col else list(ID_COLUMNS)
    for name in candidates:
        if name in columns:
            return name
    raise OOFError(f"{source} has no id column (looked for {', '.join(candidates)}; found "
                   f"{', '.join(columns)}); name it image_id or pass --oof-id-col NAME")


def _class_of(column: str, by_name: dict[str, int]) -> int | None:
    if column in by_name:
        return by_name[column]
    low = column.lower()
    for prefix in ("prob_", "pred_"):
        if low.startswith(prefix) and column[len(prefix):] in by_name:
            return by_name[column[len(prefix):]]
    if low.endswith("_prob") and column[:-5] in by_name:
        return by_name[column[:-5]]
    return None


def match_class_columns(source: str, candidates: list[str], classes: Sequence[Any]) -> list[str]:
    """Map probability columns to classes; returns the column names in class order.

    A column matches class ``c`` when named ``c``, ``prob_c``, ``pred_c`` or ``c_prob``.
    Raises when the number of columns is not K, or a column matches no class.
    """
    by_name = {str(c): i for i, c in enumerate(classes)}
    names = _first(classes, len(classes))
    if len(candidates) != len(classes):
        raise OOFError(f"{source}: expected {len(classes)} probability columns (one per "
                       f"class: {names}), found {len(candidates)}: {_first(candidates, 12)}; "
                       f"{COLUMN_STYLES}")
    matched = {c: _class_of(c, by_name) for c in candidates}
    unmatched = [c for c, k in matched.items() if k is None]
    if unmatched:
        many = len(unmatched) > 1
        raise OOFError(f"{source}: column{'s' if many else ''} "
                       f"{', '.join(repr(c) for c in unmatched)} match{'' if many else 'es'} "
                       f"no class of the labels file (classes: {names}); {COLUMN_STYLES}")
    order = sorted(candidates, key=lambda c: matched[c])
    if len({matched[c] for c in candidates}) != len(candidates):
        seen: dict[int, str] = {}
        for c in order:
            if matched[c] in seen:
                raise OOFError(f"{source}: columns '{seen[matched[c]]}' and '{c}' both name "
                               f"class {classes[matched[c]]}; keep one column per class")
            seen[matched[c]] = c
    return order


def _check_unique_ids(source: str, ids: np.ndarray) -> None:
    import pandas as pd

    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids[dup][0]
        raise OOFError(f"{source}: id '{first}' appears {int((ids == first).sum())} times; "
                       "each image needs exactly one row (average repeated predictions "
                       "first)")


# -- values ---------------------------------------------------------------------------------

def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise soft-max of an (N, K) array."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _row_label(ids: np.ndarray | None, row: int) -> str:
    return f"id '{ids[row]}'" if ids is not None else f"row {row}"


def check_probabilities(probs: np.ndarray, source: str, ids: np.ndarray | None = None, *,
                        logits: bool = False, tolerance: float = SUM_TOLERANCE,
                        warnings: list[str] | None = None) -> np.ndarray:
    """Check an (N, K) array of probabilities (or logits) and return it normalised.

    Raises on NaN/inf, negative values, and rows whose sum misses 1 by more than
    ``tolerance``; with ``logits=True`` only NaN/inf are errors and rows are soft-maxed.
    A row that is entirely empty (all NaN) means "no prediction": it stays NaN here, and
    :func:`align_oof` accepts it only for an image that needs none (an unreadable one).
    """
    probs = np.asarray(probs, dtype=np.float64)
    empty = np.isnan(probs).all(axis=1) if probs.shape[1] else np.zeros(len(probs), bool)
    bad = ~np.isfinite(probs).all(axis=1) & ~empty
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise OOFError(f"{source}: {int(bad.sum()):,} rows hold NaN, empty or infinite "
                       f"values (first: {_row_label(ids, row)}); re-predict or fill them")
    if logits:
        if len(probs) and _looks_like_probabilities(probs, tolerance) and warnings is not None:
            warnings.append(f"{source}: --logits was given but the rows already look like "
                            "probabilities (in [0, 1], summing to 1); soft-maxing flattens "
                            "them: drop --logits if they are probabilities")
        return softmax(probs.copy())
    negative = (probs < 0).any(axis=1)
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        raise OOFError(f"{source}: {int(negative.sum()):,} rows hold negative values (first: "
                       f"{_row_label(ids, row)}, {probs[row].min():.4g}); probabilities "
                       "must be >= 0; if the file holds logits, pass --logits")
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1) > tolerance
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise OOFError(f"{source}: {int(off.sum()):,} rows do not sum to 1 (tolerance "
                       f"{tolerance:g}; first: {_row_label(ids, row)} sums to "
                       f"{sums[row]:.4g}); if the file holds logits, pass --logits, "
                       "otherwise normalise each row")
    return probs / sums[:, None] if len(probs) else probs


def _looks_like_probabilities(values: np.ndarray, tolerance: float) -> bool:
    return bool((values >= 0).all() and (np.abs(values.sum(axis=1) - 1) <= tolerance).all())


# -- fitting the file to the dataset -------------------------------------------------------

def align_oof(table: OOFTable, labeled_ids: Sequence[str], required: np.ndarray) -> np.ndarray:
    """The OOF rows in the order of ``labeled_ids``: (M, K), NaN rows where absent.

    ``labeled_ids`` are the dataset's labeled images (labels-file order); ``required`` (M,)
    bool marks those that must have a row (the readable ones). A ``.npy`` must have one
    row per labeled image. Raises on required images without a row (or with an empty
    one) and on ids not in the dataset.
    """
    labeled_ids = np.asarray(labeled_ids, dtype=object)
    k = table.probs.shape[1]
    if table.ids is None:
        if len(table.probs) != len(labeled_ids):
            raise OOFError(f"{table.source}: has {len(table.probs):,} rows but the labels file "
                           f"has {len(labeled_ids):,} labeled images; a .npy must hold one "
                           "row per labeled image, in labels-file order")
        aligned = table.probs
    else:
        aligned = _aligned_by_id(table, labeled_ids, k)
    missing = required & np.isnan(aligned).all(axis=1)
    if missing.any():
        raise OOFError(f"{table.source}: {int(missing.sum()):,} of the dataset's "
                       f"{int(required.sum()):,} readable labeled images have no row or an "
                       f"empty one (first: {_first(labeled_ids[missing])}); predict every "
                       "image of the labels file")
    return aligned


def _aligned_by_id(table: OOFTable, labeled_ids: np.ndarray, k: int) -> np.ndarray:
    import pandas as pd

    position = pd.Index(labeled_ids).get_indexer(table.ids)
    extra = position < 0
    if extra.any():
        raise OOFError(f"{table.source}: {int(extra.sum()):,} ids are not labeled images of "
                       f"the dataset (first: {_first(table.ids[extra])}); predict on the same "
                       "labels file, or pass --oof-id-col if another column holds the ids")
    aligned = np.full((len(labeled_ids), k), np.nan)
    aligned[position] = table.probs
    return aligned


def label_column_warning(table: OOFTable, labeled_ids: Sequence[str],
                         given: Sequence[Any]) -> str | None:
    """A warning when the file's own label column disagrees with the labels file."""
    if table.labels is None or table.ids is None:
        return None
    import pandas as pd

    given_by_id = pd.Series([str(g) for g in given], index=pd.Index(labeled_ids))
    theirs = pd.Series(table.labels, index=pd.Index(table.ids)).astype(str).str.strip()
    differ = theirs != given_by_id.reindex(theirs.index)
    if not differ.any():
        return None
    return (f"{table.source}: its label column differs from the labels file for "
            f"{int(differ.sum()):,} images (first: {_first(theirs.index[differ])}); the labels "
            "file is used: were the predictions made with other labels?")


def suspicious_warning(source: str, probs: np.ndarray, labels: np.ndarray) -> str | None:
    """A warning when predictions agree with the given labels too well to be out-of-fold.

    ``probs`` (N, K) and ``labels`` (N,) class indices of the scored images.
    """
    if len(labels) < 100:
        return None
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    if accuracy < SUSPICIOUS_ACCURACY:
        return None
    return (f"{source}: predictions agree with the given labels on {accuracy:.1%} of images; "
            "out-of-fold predictions rarely do (were they made by models that trained on "
            "these images?); wrong labels will be missed")


# -- several files ---------------------------------------------------------------------------

def combine_oof(probs: list[np.ndarray], labels: np.ndarray | None = None,
                method: str = "mean") -> tuple[np.ndarray, list[float]]:
    """Combine aligned (N, K) probability arrays into one; returns (probs, weights).

    ``mean`` averages them; ``weighted`` fits non-negative weights summing to 1 that
    minimise the log-loss of the blend against ``labels`` (N,) class indices, on the rows
    that every file predicts; ``accuracy`` picks the weights (on a 0.05 grid) with the
    blend's highest accuracy against ``labels`` (ties: lower log-loss), as Kaggle ensembles
    are tuned. NaN rows stay NaN.
    """
    if method not in ENSEMBLES:
        raise RegistryError("ensemble method", method, list_ensembles())
    if len(probs) == 1:
        return probs[0], [1.0]
    weights = np.full(len(probs), 1 / len(probs))
    if method in ("weighted", "accuracy"):
        if labels is None:
            raise ValueError("fitted ensembles need labels")
        weights = fit_weights(probs, labels)
        if method == "accuracy":
            weights = fit_accuracy_weights(probs, labels, weights)
    blend = sum(w * p for w, p in zip(weights, probs))
    return blend, [float(w) for w in weights]


def fit_weights(probs: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Blend weights (M,) minimising log-loss of the labels (rows with NaN are skipped)."""
    from scipy.optimize import minimize

    rows = np.isfinite(np.stack([p[:, 0] for p in probs])).all(axis=0)
    picked = np.stack([p[rows, labels[rows]] for p in probs], axis=1)  # (n, M)

    def loss(theta: np.ndarray) -> float:
        w = np.exp(theta - theta.max())
        w /= w.sum()
        return float(-np.log(np.clip(picked @ w, 1e-12, None)).mean())

    best = minimize(loss, np.zeros(len(probs)), method="Nelder-Mead",
                    options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 400 * len(probs)})
    w = np.exp(best.x - best.x.max())
    return w / w.sum()


def fit_accuracy_weights(probs: list[np.ndarray], labels: np.ndarray, start: np.ndarray,
                         step: float = 0.05, grid_files: int = 4) -> np.ndarray:
    """Blend weights (M,) with the highest accuracy of the labels (ties: lower log-loss).

    Accuracy is a step function of the weights with wide plateaus, so for up to
    ``grid_files`` files every blend on a ``step`` grid of the simplex is tried (1,771 for
    four files), plus ``start``; beyond that, weight moves ``step`` at a time between files
    from ``start`` while that helps. Rows with NaN are skipped.
    """
    from itertools import combinations

    rows = np.isfinite(np.stack([p[:, 0] for p in probs])).all(axis=0)
    stacked = np.stack([p[rows] for p in probs])  # (M, n, K)
    y = labels[rows]
    m, units = len(probs), round(1 / step)

    def score(w: np.ndarray) -> tuple[float, float]:
        blend = np.tensordot(w, stacked, axes=1)
        accuracy = float((blend.argmax(axis=1) == y).mean())
        loss = float(-np.log(np.clip(blend[np.arange(len(y)), y], 1e-12, None)).mean())
        return accuracy, -loss

    best_w = np.asarray(start, dtype=np.float64)
    best = score(best_w)
    if m <= grid_files:  # compositions of `units` into m parts (stars and bars)
        for bars in combinations(range(units + m - 1), m - 1):
            cuts = np.diff(np.array([-1, *bars, units + m - 1])) - 1
            w = cuts / units
            trial = score(w)
            if trial > best:
                best, best_w = trial, w
        return best_w
    w = best_w.copy()
    while True:
        moves = [(a, b) for a in range(m) for b in range(m) if a != b and w[b] > 0]
        tried = []
        for a, b in moves:
            trial = w.copy()
            moved = min(step, trial[b])
            trial[a], trial[b] = trial[a] + moved, trial[b] - moved
            tried.append((score(trial), trial))
        top = max(tried, key=lambda t: t[0], default=None)
        if top is None or top[0] <= best:
            return w / w.sum()
        best, w = top


@dataclass
class OOFInput:
    """OOF probabilities fitted to the dataset: ``probs`` (M, K) in labeled-image order."""

    probs: np.ndarray
    sources: list[str]
    weights: list[float]
    warnings: list[str] = field(default_factory=list)


def load_oof(paths: Sequence[str | Path], classes: Sequence[Any], labeled_ids: Sequence[str],
             given: np.ndarray, required: np.ndarray, *, id_col: str | None = None,
             label_col: str | None = None, logits: bool = False,
             ensemble: str = "mean") -> OOFInput:
    """Read, check, align and combine one or more OOF files.

    ``labeled_ids`` (M,) are the labeled images in labels-file order, ``given`` (M,) their
    class indices and ``required`` (M,) bool those that must be predicted (readable).
    Every file is checked before anything is combined; warnings come back as text.
    """
    if ensemble not in ENSEMBLES:
        raise RegistryError("ensemble method", ensemble, list_ensembles())
    aligned, warnings = [], []
    labeled_ids = np.asarray(labeled_ids, dtype=object)
    for path in paths:
        table = read_oof(path, classes, id_col=id_col, label_col=label_col, logits=logits)
        probs = align_oof(table, labeled_ids, required)
        warnings += table.warnings
        note = label_column_warning(table, labeled_ids, [classes[g] for g in given])
        rows = np.isfinite(probs[:, 0])
        note2 = suspicious_warning(table.source, probs[rows], given[rows])
        warnings += [w for w in (note, note2) if w]
        aligned.append(probs)
    probs, weights = combine_oof(aligned, given, ensemble)
    return OOFInput(probs=probs, sources=[str(p) for p in paths], weights=weights,
                    warnings=warnings)
