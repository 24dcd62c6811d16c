"""Dataset intake: a labels CSV + images folder, an ImageFolder tree, or an unlabeled folder.

The result is a :class:`Dataset`: one :class:`ImageRecord` per image (listed in the labels
file, found on disk, or both), each with its path relative to the images root and its label
in the labels file's own type (ints stay ints, strings stay strings).

The images root may be a URI (``s3://bucket/prefix``: its objects are listed through
pyarrow), and a labels file's path column or a listing may name URIs, which are their own
locations (:mod:`labelclean.io.locations`); the scan finds out whether they can be read.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelclean.errors import ConfigError, LabelsFileError
from labelclean.io.labelsfile import label_values, parse_labels, read_labels_table
from labelclean.io.locations import (
    image_location,
    is_uri,
    list_uri_files,
    stat_many,
    uri_folder_exists,
)

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".bmp", ".dib", ".tif",
    ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".ico", ".tga",
})
MISSING = "missing file"
OUTSIDE = "outside images root"
SYMLINK_LOOP = "symlink loop"
DANGLING = "dangling symlink"
#: A Windows absolute path (``C:\\x``, ``C:/x``, ``\\\\server\\x``): outside the images root.
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")

__all__ = ["Dataset", "ImageRecord", "load_dataset", "parse_labels", "read_labels_table",
           "sort_classes", "load_class_names", "list_image_files", "is_inside"]


@dataclass
class ImageRecord:
    """One image of the dataset.

    ``path`` is relative to the images root (POSIX separators), or a URI that is its own
    location; ``problem`` is set when
    the file must not or cannot be opened (``missing file``, ``outside images root``,
    ``symlink loop``, ``dangling symlink``).
    """

    image_id: str
    path: str
    label: Any = None
    problem: str | None = None


@dataclass
class Dataset:
    """The images of a dataset and their labels."""

    root: Path | str  # a folder, or a URI (s3://bucket/prefix)
    records: list[ImageRecord]
    kind: str  # "csv", "imagefolder" or "unlabeled"
    classes: list[Any] = field(default_factory=list)
    labels_file: Path | None = None
    id_col: str = "image_id"
    label_col: str = "label"
    path_col: str | None = None
    #: ``(size, mtime_ns)`` of the files a store's listing gave (path -> stat), so that
    #: the scan's fingerprint need not ask for each object again
    listed_stats: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    @property
    def has_labels(self) -> bool:
        return bool(self.classes)

    @property
    def unlabeled(self) -> int:
        """How many images have no label (not listed, or ``NaN``/``NA``/empty)."""
        return sum(r.label is None for r in self.records)

    @property
    def missing(self) -> int:
        """How many images the labels file lists that are not on disk."""
        return sum(r.problem == MISSING for r in self.records)

    def location(self, record: ImageRecord) -> str:
        """Where ``record``'s file is read from: a local path or a URI."""
        return image_location(self.root, record.path)

    def __len__(self) -> int:
        return len(self.records)


def sort_classes(labels: Iterable[Any]) -> list[Any]:
    """Deterministic class order: numeric for ints, lexicographic for strings."""
    values = {v for v in labels if v is not None}
    if all(isinstance(v, int) for v in values):
        return sorted(values)
    return sorted(values, key=str)


def load_class_names(path: str | Path | None) -> dict[str, str]:
    """Read an optional ``{label: name}`` JSON mapping (keys compared as strings)."""
    if path is None:
        return {}
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"class names file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"class names file {path} is not JSON ({exc}); expected "
                          '{"0": "name", ...}') from None
    if not isinstance(data, dict):
        raise ConfigError(f"class names file {path} must hold a JSON object "
                          '{"label": "name", ...}')
    return {str(k): str(v) for k, v in data.items()}


# -- walking the images folder ----------------------------------------------------------

def list_image_files(root: Path, exclude: Iterable[Path] = ()) -> list[str]:
    """Every image file under ``root`` (nested folders too), as sorted relative POSIX paths.

    Hidden files and folders (starting with '.') and the ``exclude`` folders are skipped;
    symbolic links to folders are not followed (so a folder loop cannot trap the walk); a
    file symlink is listed even when it loops or dangles (:func:`file_problem` says why).
    """
    excluded = {Path(p).resolve() for p in exclude}
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and (os.path.islink(here / d) or
                                  (here / d).resolve() not in excluded))
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            found.append((here / name).relative_to(root).as_posix())
    return sorted(found)


def is_inside(root: Path, candidate: Path) -> bool:
    """True when ``candidate`` (symlinks resolved) lies inside ``root``."""
    try:
        candidate.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (< 3.13)
        return False


def file_problem(root: Path, path: Path) -> str | None:
    """Why ``path`` must not or cannot be opened as an image of ``root``, or None.

    ``symlink loop``, ``dangling symlink``, ``missing file``, ``outside images root`` (a
    symlink, or a folder on the way, pointing out); other errors (permissions) are left to
    the scan, which records them.
    """
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return SYMLINK_LOOP
        if os.path.islink(path):
            return DANGLING
        return MISSING if exc.errno in (errno.ENOENT, errno.ENOTDIR) else None
    if os.path.isdir(path):
        return MISSING
    return None if is_inside(root, path) else OUTSIDE


def _walked_problem(root: Path, rel: str) -> str | None:
    """:func:`file_problem` of a file found by walking ``root``.

    The walk does not follow symlinked folders, so such a file is fine unless it is
    itself a symlink (that loops, dangles or points out): one ``lstat`` per file.
    """
    if is_uri(root) or is_uri(rel):
        return None
    path = root / rel
    return file_problem(root, path) if os.path.islink(path) else None


def _given_path(root: Path, given: str, walked: set[str]) -> str:
    """A path of the labels file with Windows separators read as folder separators
    (``train\\img1.jpg``), unless a file has that very name."""
    if ("\\" not in given or given in walked or _WINDOWS_ABSOLUTE.match(given)
            or is_uri(root) or os.path.lexists(root / given)):
        return given
    return given.replace("\\", "/")


def _safe_relative(root: Path, given: str, walked: set[str]) -> tuple[str, str | None]:
    """Map a path from the labels file to (relative path, problem): absolute paths and
    ``..`` out of the root are outside it; a walked file gets :func:`_walked_problem`; any
    other file is checked by :func:`file_problem` once found."""
    p = Path(given)
    if p.is_absolute() or _WINDOWS_ABSOLUTE.match(given):
        return given, OUTSIDE
    if ".." in p.parts:
        if os.path.normpath(given).split(os.sep)[0] == "..":
            return given, OUTSIDE
        return p.as_posix(), None
    if p.as_posix() in walked:
        return p.as_posix(), _walked_problem(root, p.as_posix())
    return p.as_posix(), None


def read_listing(path: str | Path) -> list[str]:
    """The image files a Parquet listing (a local file or a URI) names: its ``path``
    column, relative to the images folder (POSIX separators) or URIs (``s3://b/k.jpg``),
    as :func:`list_image_files` gives them: sorted, each once.

    A path that is absolute or leads out of the images folder is a ConfigError (a listing
    is the user's description of the folder, not data to keep as a row)."""
    import pyarrow.parquet as pq

    path = path if is_uri(path) else Path(path)
    try:
        table = pq.read_table(path, columns=["path"])
    except FileNotFoundError:
        raise ConfigError(f"`listing` {path} does not exist") from None
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"`listing` {path} is not a Parquet file with a 'path' column "
                          f"({exc})") from None
    files = sorted({str(p).replace("\\", "/") for p in table["path"].to_pylist() if p})
    bad = next((f for f in files if not is_uri(f) and (
        f.startswith("/") or _WINDOWS_ABSOLUTE.match(f) or ".." in f.split("/"))), None)
    if bad is not None:
        raise ConfigError(f"`listing` {path} names {bad}; paths must be relative to the "
                          "images folder, inside it, or URIs (s3://bucket/key.jpg)")
    return files


def load_dataset(images: str | Path, labels: str | Path | None = None, *,
                 id_col: str = "image_id", label_col: str = "label",
                 path_col: str | None = None, exclude: Iterable[Path] = (),
                 files: list[str] | None = None) -> Dataset:
    """Build the dataset from an images folder and an optional labels file.

    Without a labels file, first-level sub-folders are classes (ImageFolder); a folder
    with no sub-folders of images is an unlabeled dataset. ``files`` (relative POSIX
    paths, e.g. from :func:`read_listing`) are the images on disk instead of a walk of the
    folder. ``images`` may be a URI (``s3://bucket/prefix``), whose objects are listed
    (recursively) unless ``files`` names them.
    """
    stats: dict[str, tuple[int, int]] = {}
    if is_uri(images):
        root: Path | str = str(images).rstrip("/")
        if files is None:
            stats = _list_uri_folder(root)
            files = list(stats)
    else:
        root = Path(images)
        if not root.exists():
            raise ConfigError(f"images folder {root} does not exist; pass `images` DIR")
        if not root.is_dir():
            raise ConfigError(f"`images` must be a folder, but {root} is a file")
        if files is None:
            files = list_image_files(root, exclude=exclude)
    if labels is None:
        dataset = _from_folder(root, files)
    else:
        dataset = _from_labels_file(root, files, Path(labels), id_col, label_col, path_col)
    dataset.listed_stats = stats
    return dataset


def _list_uri_folder(root: str) -> dict[str, tuple[int, int]]:
    """The image files under the URI ``root``, relative to it, with their sizes and times;
    a ConfigError when it cannot be listed or holds nothing."""
    missing = f"images folder {root} does not exist; pass `images` DIR or URI"
    try:
        files = list_uri_files(root, IMAGE_EXTENSIONS)
    except FileNotFoundError:
        raise ConfigError(missing) from None
    except OSError as exc:
        raise ConfigError(f"images {root} cannot be listed ({exc}); check the URI and the "
                          "store's credentials (e.g. AWS_PROFILE, "
                          "GOOGLE_APPLICATION_CREDENTIALS)") from None
    if not files and not uri_folder_exists(root):
        raise ConfigError(missing)
    return files


def _from_folder(root: Path | str, files: list[str]) -> Dataset:
    # folder names parsed like a labels column: '0'..'9' become ints, as index.csv reads back
    # (a listed URI is in no class folder of the root)
    labels = parse_labels(f.split("/", 1)[0] if "/" in f and not is_uri(f) else None
                          for f in files)
    kind = "imagefolder" if any(lbl is not None for lbl in labels) else "unlabeled"
    records = [ImageRecord(image_id=f, path=f, label=lbl, problem=_walked_problem(root, f))
               for f, lbl in zip(files, labels)]
    return Dataset(root=root, records=records, kind=kind, classes=sort_classes(labels))


class _Locator:
    """Finds the file each labels-file row names: as given, or by its id without extension."""

    def __init__(self, root: Path | str, files: list[str], labels_file: Path):
        self.root, self.on_disk, self.labels_file = root, set(files), labels_file
        self.by_stem: dict[str, list[str]] = {}
        for f in files:
            self.by_stem.setdefault(f.rsplit(".", 1)[0], []).append(f)
        self.rows: dict[str, tuple[int, str]] = {}  # found file -> (row, id) that named it

    def locate(self, row: int, image_id: str, given: str) -> tuple[str, str | None]:
        """(relative path, problem) of the file named by labels-file ``row``."""
        if is_uri(given):  # its own location: the scan finds out whether it reads
            return self._claim(given, None, row, image_id)
        if is_uri(self.root):
            return self._locate_in_store(row, image_id, given)
        rel, problem = _safe_relative(self.root, _given_path(self.root, given, self.on_disk),
                                      self.on_disk)
        if problem is not None or rel in self.on_disk:
            return self._claim(rel, problem, row, image_id)
        path = self.root / rel
        if not (os.path.isfile(path) or os.path.islink(path)):
            rel = self._by_stem(rel, row, image_id)
        if rel in self.on_disk:
            return self._claim(rel, _walked_problem(self.root, rel), row, image_id)
        return self._claim(rel, file_problem(self.root, self.root / rel), row, image_id)

    def _locate_in_store(self, row: int, image_id: str, given: str) -> tuple[str, str | None]:
        """:meth:`locate` under a URI root: a path out of it is outside; one not listed is
        asked for (missing when the store has no such object)."""
        rel = given.replace("\\", "/")
        if rel.startswith("/") or ".." in rel.split("/"):
            return self._claim(given, OUTSIDE, row, image_id)
        if rel not in self.on_disk:
            rel = self._by_stem(rel, row, image_id)
        if rel in self.on_disk:
            return self._claim(rel, None, row, image_id)
        found = stat_many([image_location(self.root, rel)])[0]
        return self._claim(rel, None if found else MISSING, row, image_id)

    def _by_stem(self, rel: str, row: int, image_id: str) -> str:
        found = self.by_stem.get(rel, [])
        if len(found) > 1:
            raise LabelsFileError(
                f"labels file {self.labels_file}: row {row} names image '{image_id}', which "
                f"matches {len(found)} files ({', '.join(found[:3])}); write the id with its "
                "extension")
        return found[0] if found else rel

    def _claim(self, rel: str, problem: str | None, row: int,
               image_id: str) -> tuple[str, str | None]:
        if problem != MISSING and rel in self.rows:
            first_row, first_id = self.rows[rel]
            raise LabelsFileError(
                f"labels file {self.labels_file}: image {rel} is listed twice, as "
                f"'{first_id}' (row {first_row}) and '{image_id}' (row {row}); each image "
                "must have exactly one row: remove one of them")
        self.rows.setdefault(rel, (row, image_id))
        return rel, problem


def _from_labels_file(root: Path | str, files: list[str], labels_file: Path, id_col: str,
                      label_col: str, path_col: str | None) -> Dataset:
    table = read_labels_table(labels_file, id_col, label_col, path_col)
    locator = _Locator(root, files, labels_file)
    labels = label_values(table[label_col])
    ids = table[id_col].str.strip().tolist()
    given_paths = table[path_col].str.strip().tolist() if path_col else ids
    records = []
    for row, (image_id, given, label) in enumerate(zip(ids, given_paths, labels), start=2):
        rel, problem = locator.locate(row, image_id, given)
        records.append(ImageRecord(image_id=image_id, path=rel, label=label, problem=problem))
    listed_ids = set(ids)
    for f in files:
        if f not in locator.rows and f not in listed_ids:
            records.append(ImageRecord(image_id=f, path=f, label=None,
                                       problem=_walked_problem(root, f)))
    return Dataset(root=root, records=records, kind="csv", classes=sort_classes(labels),
                   labels_file=labels_file, id_col=id_col, label_col=label_col,
                   path_col=path_col)
