"""The noise stage's inputs and side files: the labeled images of the dataset, the
versions recorded in ``summary.json``, the probabilities it scored (``oof_scored.csv``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from labelclean.io.formats import oof_table, read_index


def no_oof_message(workdir: Any) -> str:
    return (f"no out-of-fold predictions: {workdir}/oof.csv does not exist; make one with "
            "'labelclean oof', or bring your own: set oof (CSV or Parquet with "
            "image_id and one probability column per class, or a .npy (N, K) in "
            "labels-file order)")


#: ``oof_scored.csv`` is written this many probabilities (rows x classes) at a time.
CHUNK_VALUES = 4_000_000


def write_scored_oof(frame: pd.DataFrame, probs: np.ndarray, classes: Sequence[Any],
                     target: Any) -> Any:
    """Write the probabilities the noise stage scored as an ``oof.csv`` table to ``target``
    (atomically), a block of rows at a time, so that an (N, K) of 10^8 probabilities is not
    copied three times over.

    ``frame`` holds the labeled images (``image_id, label, readable``), ``probs`` (M, K)
    their probabilities in the same order. Rows of unreadable images, or without finite
    probabilities, are left out; ``fold`` is empty (the files read need not have one)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from labelclean.io.workdir import atomic_path

    keep = np.flatnonzero(frame["readable"].to_numpy(bool) & np.isfinite(probs).all(axis=1))
    ids, labels = frame["image_id"].to_numpy(object), frame["label"].to_numpy(object)
    step = max(1, CHUNK_VALUES // max(1, len(classes)))
    with atomic_path(target) as tmp:
        writer, schema = None, None
        for start in range(0, max(len(keep), 1), step):
            rows = keep[start:start + step]
            table = pa.Table.from_pandas(oof_table(ids[rows], labels[rows], None, probs[rows],
                                                   list(classes)), preserve_index=False)
            if writer is None:
                schema = table.schema
                writer = pacsv.CSVWriter(str(tmp), schema)
            writer.write_table(table.cast(schema))
        writer.close()
    return target


def images_frame(dataset: Any, workdir: Any) -> tuple[pd.DataFrame, list[str]]:
    """The labeled images, labels-file order: ``image_id, path, label, readable, error``.

    Readability comes from ``index.csv`` when the scan has run; without it every file that
    exists counts as readable (and a warning says so).
    """
    from labelclean.io.workdir import INDEX

    recs = [r for r in dataset.records if r.label is not None]
    frame = pd.DataFrame({"image_id": [r.image_id for r in recs],
                          "path": [r.path for r in recs],
                          "label": pd.Series([r.label for r in recs], dtype=object),
                          "readable": [r.problem is None for r in recs],
                          "error": [r.problem or "" for r in recs]})
    path = workdir / INDEX
    if not path.exists():
        return frame, [(f"{path} does not exist: unreadable files were not checked; run "
                        "'labelclean scan' first to drop them")]
    index = read_index(workdir).drop_duplicates("image_id").set_index("image_id")
    known = frame["image_id"].isin(index.index).to_numpy()
    ids = frame.loc[known, "image_id"]
    frame.loc[known, "readable"] = index["readable"].reindex(ids).to_numpy(bool)
    frame.loc[known, "error"] = index["error"].reindex(ids).to_numpy(object)
    return frame, []


def versions() -> dict[str, str]:
    import cleanlab
    import numpy

    from labelclean import __version__

    return {"labelclean": __version__, "cleanlab": cleanlab.__version__,
            "numpy": numpy.__version__, "pandas": pd.__version__}
