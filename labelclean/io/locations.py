"""Where image bytes come from: a local path, or a URI read through a pyarrow filesystem.

An image's location is a local path (``train/a.jpg`` under a folder) or a URI that
``pyarrow.fs.FileSystem.from_uri`` understands (``s3://bucket/key.jpg``, ``gs://...``,
``hdfs://...``, ``file:///abs/path``). Every stage that reads image bytes reads them with
:func:`read_image_bytes`, and joins an images root and an ``index.csv`` path with
:func:`image_location`, so a dataset on object storage works wherever a local one does.

pyarrow (a Ray and pandas dependency) is imported only when a URI is read. Its filesystem
objects are made once per scheme, authority and options in each process (Ray workers are
processes of their own), never once per file; credentials come the way pyarrow takes them
(``AWS_ACCESS_KEY_ID`` / ``AWS_PROFILE``, ``GOOGLE_APPLICATION_CREDENTIALS``, ...).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

#: ``scheme://`` at the start of a location (two letters at least: ``C://`` is a drive)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")
#: (scheme, authority, options) -> (pyarrow filesystem, path prefix of that authority)
_FILESYSTEMS: dict[tuple[str, str, str], tuple[Any, str]] = {}
MISSING_FILE = "missing file"


def is_uri(location: str | os.PathLike | None) -> bool:
    """True when ``location`` is a URI (``s3://...``, ``file:///...``), not a local path."""
    return isinstance(location, str) and bool(_URI.match(location))


def image_location(root: str | os.PathLike | None, path: str, *,
                   resolve: bool = False) -> str:
    """The location of ``path`` (an ``index.csv`` path) under the images ``root``.

    A ``path`` that is a URI is its own location; under a URI ``root`` the path is joined
    with ``/``; otherwise it is the local path ``root / path`` (symlinks resolved with
    ``resolve``).
    """
    if is_uri(path):
        return str(path)
    if is_uri(root):
        return str(root).rstrip("/") + "/" + str(path).lstrip("/")
    if root is not None and not resolve:
        return _join_local(os.fspath(root), str(path))
    local = Path(root) / path if root is not None else Path(path)
    return str(local.resolve() if resolve else local)


def _join_local(base: str, path: str) -> str:
    """``str(Path(base) / path)``, without making two Path objects for the usual case (a
    folder and a plain relative POSIX path: every file of every stage goes through here)."""
    if not (os.sep == "/" and (base == "/" or _normal(base)) and _normal(path)
            and not path.startswith("/")):
        return str(Path(base) / path)
    return base + path if base == "/" else f"{base}/{path}"


def _normal(text: str) -> bool:
    """True when pathlib would print ``text`` as it is (no ``.`` parts, no empty parts)."""
    return (text not in ("", ".") and "//" not in text and "/./" not in text
            and not text.startswith("./") and not text.endswith(("/", "/.")))


def as_location(value: str | os.PathLike) -> str | Path:
    """A user's images root or file: a URI kept as its text, anything else a :class:`Path`
    (``~`` expanded)."""
    return str(value) if is_uri(str(value)) else Path(value).expanduser()


def local_path(location: str | os.PathLike) -> Path | None:
    """``location`` as a local path (a ``file://`` URI's path too); None for a URI of
    another store, which no local file can be or lie in."""
    if not is_uri(location):
        return Path(location)
    parts = urlsplit(str(location))
    return Path(unquote(parts.path)) if parts.scheme.lower() == "file" else None


def root_text(root: str | os.PathLike) -> str:
    """An images root as the scan records it: a URI as given, a folder resolved."""
    return str(root).rstrip("/") if is_uri(root) else str(Path(root).resolve())


def filesystem(uri: str) -> tuple[Any, str]:
    """``(pyarrow filesystem, path on it)`` of ``uri``; the filesystem is resolved once per
    scheme, authority and options (query) in this process.

    Raises OSError (pyarrow's ``ArrowInvalid`` is one) for a URI pyarrow cannot resolve.
    """
    parts = urlsplit(uri)
    key = (parts.scheme.lower(), parts.netloc, parts.query)
    if key not in _FILESYSTEMS:
        query = f"?{parts.query}" if parts.query else ""
        found, top = _from_uri(f"{parts.scheme}://{parts.netloc}/{query}")
        _FILESYSTEMS[key] = (found, top.rstrip("/"))
    found, prefix = _FILESYSTEMS[key]
    return found, prefix + unquote(parts.path)


def _from_uri(uri: str) -> tuple[Any, str]:
    """pyarrow's ``(filesystem, path)`` of ``uri`` (the one place a URI is resolved)."""
    from pyarrow import fs as pafs

    return pafs.FileSystem.from_uri(uri)


def read_image_bytes(location: str | os.PathLike) -> bytes:
    """The bytes of the file at ``location`` (local path or URI).

    Raises :class:`FileNotFoundError` when there is no such file or object, and another
    :class:`OSError` when it cannot be read (permissions, a folder, an unreachable store):
    :func:`read_error` turns either into the reason an index row gives.
    """
    if not is_uri(location):
        with open(location, "rb") as fh:
            return fh.read()
    try:
        found, path = filesystem(str(location))
        with found.open_input_stream(path) as stream:
            return stream.read()
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        if _absent(location):
            raise FileNotFoundError(2, MISSING_FILE, str(location)) from None
        raise OSError(_arrow_reason(exc)) from None


def read_error(exc: OSError) -> str:
    """The index ``error`` of a file :func:`read_image_bytes` could not read:
    ``missing file``, or ``cannot read file: <why>``."""
    if isinstance(exc, FileNotFoundError):
        return MISSING_FILE
    return f"cannot read file: {exc.strerror or exc}"


def stat_many(locations: Sequence[str]) -> list[tuple[int, int] | None]:
    """``(size, mtime_ns)`` of each location (None: missing or unreadable); URIs are asked
    in one call per filesystem."""
    out: list[tuple[int, int] | None] = [None] * len(locations)
    remote: dict[int, tuple[Any, list[int], list[str]]] = {}
    for i, loc in enumerate(locations):
        if not is_uri(loc):
            try:
                st = os.stat(loc)
                out[i] = (st.st_size, st.st_mtime_ns)
            except OSError:
                pass
            continue
        try:
            found, path = filesystem(loc)
        except (OSError, ValueError):
            continue
        entry = remote.setdefault(id(found), (found, [], []))
        entry[1].append(i)
        entry[2].append(path)
    for found, rows, paths in remote.values():
        from pyarrow import fs as pafs

        try:
            infos = found.get_file_info(paths)
        except (OSError, ValueError):
            continue
        for i, info in zip(rows, infos):
            if info.type == pafs.FileType.File:
                out[i] = (int(info.size or 0), int(info.mtime_ns or 0))
    return out


def list_uri_files(root: str, extensions: frozenset[str]) -> dict[str, tuple[int, int]]:
    """Every file under the URI ``root`` (a bucket prefix) with one of ``extensions``:
    relative POSIX path -> ``(size, mtime_ns)``, sorted by path; hidden files and folders
    (starting with '.') left out.

    Raises FileNotFoundError when there is no such folder (a store with real folders
    says so; an object store lists nothing), OSError when it cannot be listed."""
    from pyarrow import fs as pafs

    try:
        found, base = filesystem(root)
        infos = found.get_file_info(pafs.FileSelector(base.rstrip("/"), recursive=True))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise OSError(_arrow_reason(exc)) from None
    top = base.rstrip("/") + "/"
    files = {}
    for info in sorted(infos, key=lambda i: i.path):
        if info.type != pafs.FileType.File or not info.path.startswith(top):
            continue
        rel = info.path[len(top):]
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        if os.path.splitext(rel)[1].lower() in extensions:
            files[rel] = (int(info.size or 0), int(info.mtime_ns or 0))
    return files


def uri_folder_exists(root: str) -> bool:
    """True when the URI ``root`` is a folder (a bucket prefix holding objects)."""
    from pyarrow import fs as pafs

    try:
        found, base = filesystem(root)
        return found.get_file_info(base.rstrip("/") or "/").type == pafs.FileType.Directory
    except (OSError, ValueError):
        return False


def _absent(location: str | os.PathLike) -> bool:
    """True when the store says there is nothing at ``location`` (asked after a failed
    read only: stores differ in how a missing object fails)."""
    from pyarrow import fs as pafs

    try:
        found, path = filesystem(str(location))
        return found.get_file_info(path).type == pafs.FileType.NotFound
    except (OSError, ValueError):
        return False


def _arrow_reason(exc: Exception) -> str:
    """pyarrow's message, first line, without its ``[Errno n]`` prefix."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"^\[Errno \d+\]\s*", "", text)
