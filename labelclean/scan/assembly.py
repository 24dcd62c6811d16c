"""The scan's results gathered as they arrive: compact columns, thumbnails on disk.

A million images make a million results; kept as one dictionary per row (and a thumbnail
array in memory) they cost the driver about 4 GB. :class:`ScanColumns` keeps each field
in one preallocated column instead (numbers in int64/float64 arrays, text as references
to the strings the workers sent) and writes each thumbnail straight into ``thumbs.npy``'s
temporary file at its row's offset (plain writes, so a full disk is an OSError, never the
SIGBUS of a memory map; rows never written read as zeros). The tables it builds are the
ones the per-row assembly built, so the files are the same byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from labelclean.io.dataset import ImageRecord
from labelclean.io.formats import INDEX_COLUMNS
from labelclean.scan.quality import MEASURES

#: index.csv's integer fields, in this order in :attr:`ScanColumns.sizes`
SIZES = ("width", "height", "bytes")
#: index.csv's text fields a result sets
TEXTS = ("error", "mode", "format", "sha256")


class ScanColumns:
    """Every row's scan result, by column.

    Parameters
    ----------
    records : the dataset's N records (a record's ``problem`` is its error until a result
        replaces it).
    hash_methods : the hash columns of ``hashes.csv``.
    quality : keep the raw :data:`~labelclean.scan.quality.MEASURES` (N, M) float64, NaN
        for rows without them.
    thumbs_file : where the (N, S, S) uint8 thumbnails are written (an ``.npy`` file;
        zeros for unreadable rows).
    side : S, the thumbnails' side.
    """

    def __init__(self, records: Sequence[ImageRecord], hash_methods: Sequence[str],
                 quality: bool, thumbs_file: str | Path, side: int) -> None:
        n = len(records)
        self.records = records
        self.readable = np.zeros(n, dtype=bool)
        self.sizes = np.full((n, len(SIZES)), -1, dtype=np.int64)  # -1: none
        self.texts = {name: np.full(n, "", dtype=object) for name in TEXTS}
        self.texts["error"][:] = [r.problem or "" for r in records]
        self.hashes = {m: np.full(n, "", dtype=object) for m in hash_methods}
        self.measures = np.full((n, len(MEASURES)), np.nan) if quality else None
        self.thumbs = open(thumbs_file, "r+b")  # noqa: SIM115  (closed by close_thumbs)
        np.lib.format.write_array_header_1_0(self.thumbs, {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
            "fortran_order": False, "shape": (n, side, side)})
        self.start, self.thumb_bytes = self.thumbs.tell(), side * side
        self.thumbs.truncate(self.start + n * self.thumb_bytes)  # zeros, not yet on disk

    def put(self, i: int, row: dict, hashes: dict[str, str],
            thumb: np.ndarray | None) -> None:
        """Keep row ``i``'s result: :func:`~labelclean.scan.stage.scan_file`'s
        ``(index fields, hashes, thumbnail)``."""
        self.readable[i] = bool(row.get("readable", False))
        for k, name in enumerate(SIZES):
            value = row.get(name)
            self.sizes[i, k] = -1 if value is None else value
        for name in TEXTS:
            self.texts[name][i] = row.get(name, "")
        for method, column in self.hashes.items():
            column[i] = hashes.get(method, "")
        if self.measures is not None:
            self.measures[i] = [row.get(m, np.nan) for m in MEASURES]
        if thumb is not None:
            self.thumbs.seek(self.start + i * self.thumb_bytes)
            self.thumbs.write(np.ascontiguousarray(thumb, dtype=np.uint8).tobytes())

    def close_thumbs(self) -> None:
        """Write the thumbnails out and close their file (an OSError if the disk is full)."""
        self.thumbs.close()

    def index(self) -> pd.DataFrame:
        """``index.csv``'s table (:data:`~labelclean.io.formats.INDEX_COLUMNS`), N rows."""
        recs = self.records
        columns = {"image_id": [r.image_id for r in recs], "path": [r.path for r in recs],
                   "label": ["" if r.label is None else r.label for r in recs],
                   "readable": self.readable, "error": self.texts["error"]}
        for k, name in enumerate(SIZES):
            values = self.sizes[:, k]
            columns[name] = pd.array(np.where(values < 0, 0, values), dtype="Int64")
            columns[name][values < 0] = pd.NA
        for name in ("mode", "format", "sha256"):
            columns[name] = self.texts[name]
        return pd.DataFrame(columns, columns=INDEX_COLUMNS)

    def hash_table(self) -> pd.DataFrame:
        """``hashes.csv``'s table: ``image_id`` and one hex column per method."""
        return pd.DataFrame({"image_id": [r.image_id for r in self.records], **self.hashes})

    def raw_measures(self) -> pd.DataFrame:
        """(N, M) the raw quality figures, NaN for rows without them."""
        return pd.DataFrame(self.measures, columns=list(MEASURES))
