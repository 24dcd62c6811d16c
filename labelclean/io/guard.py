"""User files are read-only to labelclean: the checks that keep every output off the inputs.

labelclean reads the images folder, the labels file, the project file and the OOF files and
manifests it is given, and never writes any of them. A command that takes an output path
checks it before it writes: :func:`check_output` for a file (``apply --out``),
:func:`check_output_dir` for a folder (``report --out``). :func:`check_workdir` keeps the
work directory and the images folder apart (a work directory in the images folder would be
scanned as images) and the labels file out of the work directory (whose files the stages
replace). :func:`writing` turns an operating-system failure while writing into an error
that names the path.

``inputs`` maps what an input is, as a message says it ("the labels file"), to its path
(None: not given). Symbolic and hard links count as the file they point to.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from labelclean.errors import ConfigError
from labelclean.io.locations import local_path
from labelclean.io.workdir import (
    AGAINST_DIR,
    DUPLICATES,
    EMBEDDINGS_DIR,
    HASHES,
    INDEX,
    LEAKS,
    MANIFEST,
    OOF,
    OOF_SCORED,
    QUALITY,
    RELATED,
    REPORT_DIR,
    SUMMARY,
    THUMBS,
    TRAIN_DIR,
)

PathLike = str | os.PathLike
Inputs = Mapping[str, PathLike | None]

#: what the stages keep in a work directory: no command's output may replace them
WORKDIR_FILES = frozenset({INDEX, HASHES, THUMBS, DUPLICATES, OOF, OOF_SCORED, MANIFEST,
                           SUMMARY, REPORT_DIR, EMBEDDINGS_DIR, "stages", "oof_folds.json",
                           QUALITY, "oof_features.npy", "oof_features.json", RELATED, LEAKS,
                           AGAINST_DIR, TRAIN_DIR})
_KEEP_OFF = "labelclean never changes its inputs"


def real(path: PathLike) -> Path:
    """``path`` absolute, with ``~`` and symbolic links resolved (it need not exist)."""
    return Path(path).expanduser().resolve()


def is_inside(path: PathLike, folder: PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies anywhere inside it (either may be a URI: a
    ``file://`` one is its local path, one of another store holds no local file)."""
    path, folder = local_path(path), local_path(folder)
    if path is None or folder is None:
        return False
    path, folder = real(path), real(folder)
    return path == folder or folder in path.parents


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file (through links too)."""
    a, b = local_path(a), local_path(b)
    if a is None or b is None:
        return False
    if real(a) == real(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_workdir(workdir: PathLike, *, images: PathLike | None = None,
                  labels: PathLike | None = None) -> None:
    """The work directory must be a folder (or not exist yet), share nothing with the
    images folder (not the folder, not inside it, not around it), and not hold the labels
    file. Raises :class:`~labelclean.errors.ConfigError`."""
    wd = Path(workdir)
    if wd.exists() and not wd.is_dir():
        raise ConfigError(f"the work directory {wd} is a file, not a folder; pass a `workdir` "
                          "that is a folder or does not exist yet (e.g. .labelclean)")
    fix = ("labelclean writes its files there and the next scan would index them as images; "
           "pass a `workdir` outside the images folder (e.g. .labelclean beside it)")
    if images is not None:
        if local_path(images) is not None and real(wd) == real(local_path(images)):
            raise ConfigError(f"the work directory {wd} is the images folder; {fix}")
        if is_inside(wd, images):
            raise ConfigError(f"the work directory {wd} is inside the images folder "
                              f"{images}; {fix}")
        if is_inside(images, wd):
            raise ConfigError(f"the work directory {wd} contains the images folder {images}; "
                              "a work directory holds only labelclean's files (it replaces "
                              "them on every run); pass a `workdir` beside the images folder "
                              "(e.g. .labelclean)")
    if labels is not None and is_inside(labels, wd):
        raise ConfigError(f"the labels file {labels} is inside the work directory {wd}, whose "
                          "files labelclean replaces on every run; copy it out of the work "
                          "directory and pass the copy as `labels`")


def _check_inputs(name: str, path: Path, inputs: Inputs) -> None:
    for what, given in inputs.items():
        if given is not None and same_file(path, given):
            raise ConfigError(f"{name} is {what} ({given}); {_KEEP_OFF}: pass another file "
                              "name")


def _check_writable(name: str, path: Path) -> None:
    """The nearest existing folder above ``path`` is a folder we may write in."""
    above = path.absolute().parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise ConfigError(f"{name} cannot be written: {above} is a file, not a folder; pass "
                          "a path in a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise ConfigError(f"{name} cannot be written: no permission to write in {above}; "
                          "pass a path in a folder you can write to")


def check_output(path: PathLike, *, option: str = "out", images_root: PathLike | None = None,
                 inputs: Inputs | None = None, workdir: PathLike | None = None,
                 example: str = "clean.csv") -> Path:
    """Check the file output ``path`` (given as ``option``) before anything is written.

    It may not be a folder, anything in the images folder, one of ``inputs``, one of the
    work directory's own files (:data:`WORKDIR_FILES`), or not a regular file; its folder
    must be writable. Returns ``path``; raises :class:`~labelclean.errors.ConfigError`.
    """
    path = Path(path)
    name = f"`{option}` {path}"
    if path.is_dir():
        raise ConfigError(f"{name} is a folder; expected a file name (e.g. {path / example})")
    if images_root is not None and is_inside(path, images_root):
        raise ConfigError(f"{name} is inside the images folder {images_root}, which labelclean "
                          "only reads; pass a file outside the images folder")
    _check_inputs(name, path, inputs or {})
    if workdir is not None and is_inside(path, workdir) and real(path) != real(workdir):
        first = real(path).relative_to(real(workdir)).parts[0]
        if first in WORKDIR_FILES:
            raise ConfigError(f"{name} would replace the work directory's {first}, which "
                              f"later stages read; pass another file name (e.g. "
                              f"{Path(workdir) / example})")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{name} exists and is not a regular file; pass a file name")
    _check_writable(name, path)
    return path


def check_output_dir(path: PathLike, *, option: str = "out",
                     images_root: PathLike | None = None, inputs: Inputs | None = None,
                     writes: tuple[str, ...] = ("index.html", "assets"),
                     workdir: PathLike | None = None, own: str | None = None) -> Path:
    """Check the output folder ``path``, in which a command writes ``writes``.

    It may not be a file or lie in the images folder, neither the images folder nor any of
    ``inputs`` may lie where it writes, and nothing it writes may replace one of the
    ``workdir``'s own files (:data:`WORKDIR_FILES`) other than inside the command's own
    folder there (``own``, e.g. ``train``). Returns ``path``; raises
    :class:`~labelclean.errors.ConfigError`.
    """
    path = Path(path)
    name = f"`{option}` {path}"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{name} is a file; expected a folder (e.g. {path.parent / 'report'})")
    if images_root is not None and is_inside(path, images_root):
        raise ConfigError(f"{name} is inside the images folder {images_root}, which labelclean "
                          "only reads (the next scan would index the report's images); pass "
                          "a folder outside the images folder")
    places = [path / w for w in writes]
    found = {"the images folder": images_root, **(inputs or {})}
    for what, given in found.items():
        hit = next((p for p in places if given is not None and is_inside(given, p)), None)
        if hit is not None:
            raise ConfigError(f"{name}: {what} ({given}) is inside {hit}, which this "
                              f"command writes; {_KEEP_OFF}: pass another folder")
    if workdir is not None and is_inside(path, workdir):
        for place in places:
            first = real(place).relative_to(real(workdir)).parts[0]
            if first in WORKDIR_FILES and first != own:
                raise ConfigError(f"{name}: writing {place.name} there would replace the work "
                                  f"directory's {first}, which later stages read; pass a "
                                  f"folder outside it (or under {Path(workdir) / (own or '')})")
    _check_writable(name, path / writes[0])
    return path


@contextmanager
def writing(path: PathLike, option: str = "out") -> Iterator[None]:
    """Turn an :class:`OSError` while writing ``path`` (given as ``option``) into a
    :class:`~labelclean.errors.ConfigError` naming it."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(f"`{option}` {path} cannot be written ({exc.strerror or exc}); pass "
                          "a path in a folder you can write to") from None
