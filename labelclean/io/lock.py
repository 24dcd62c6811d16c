"""The work-directory lock: one labelclean process at a time in a work directory.

The lock is the file ``<workdir>/.lock``, held with ``fcntl.flock`` (the kernel drops it
when its process dies, however it dies, so a dead process's lock is simply taken over);
it holds who took it (pid, command, since when) for the message a second process shows.
Where ``flock`` is missing or refused (Windows, some network file systems) the file
itself is the lock (created with ``O_CREAT | O_EXCL``), taken over when the pid in it is
no longer alive. A process may take its own lock again (``labelclean run`` holds it once
for all its stages, and each stage takes it again).
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from labelclean.errors import ConfigError, WorkdirLockedError, environment_error

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
#: seconds between two tries of a process that waits for the lock
POLL_SECONDS = 0.2


@dataclass
class _Held:
    fd: int
    path: Path
    pid: int
    created_root: bool
    count: int = 1


#: the locks this process holds, by absolute work directory
_HELD: dict[str, _Held] = {}


@contextmanager
def workdir_lock(root: str | os.PathLike, *, wait: bool = False,
                 on_wait: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the lock of work directory ``root`` (made if missing) while the block runs.

    Another process holding it raises :class:`~labelclean.errors.WorkdirLockedError`
    naming it, or with ``wait`` polls until it is free (``on_wait(who)`` is called once
    first). A work directory made here and left empty is removed on release.
    """
    key = os.path.abspath(root)
    held = _HELD.get(key)
    if held is not None and held.pid == os.getpid():
        held.count += 1
        try:
            yield held.path
        finally:
            held.count -= 1
        return
    held = _acquire(Path(key), wait, on_wait, Path(root))
    _HELD[key] = held
    try:
        yield held.path
    finally:
        del _HELD[key]
        _release(held)


def holds_lock(root: str | os.PathLike) -> bool:
    """Whether this process holds the lock of ``root`` and its lock file is still the one
    it took (False once the work directory was deleted or moved away)."""
    held = _HELD.get(os.path.abspath(root))
    if held is None or held.pid != os.getpid():
        return False
    return _same_file(held.fd, held.path)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _make_root(root: Path, shown: Path) -> bool:
    """Make the work directory (``shown`` as the user named it); True when it did not
    exist."""
    if root.is_dir():
        return False
    if root.exists() or root.is_symlink():
        raise ConfigError(f"the work directory {shown} is a file, not a folder; pass a "
                          "`workdir` that is a folder or does not exist yet (e.g. .labelclean)")
    try:
        root.mkdir(parents=True)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise ConfigError(f"the work directory {shown} is inside a file, not a folder; "
                              "pass a `workdir` that is a folder or does not exist yet (e.g. "
                              ".labelclean)") from None
        raise _root_error(exc, shown) from None
    return True


def _root_error(exc: OSError, shown: Path) -> Exception:
    return environment_error(exc, f"to the work directory {shown}") or exc


def _acquire(root: Path, wait: bool, on_wait: Callable[[str], None] | None,
             shown: Path) -> _Held:
    created = _make_root(root, shown)
    path = root / LOCK_FILE
    told = False
    while True:
        try:
            fd = _try_lock(path)
        except OSError as exc:
            _remove_root(root, created)
            raise _root_error(exc, shown) from None
        if fd is not None:
            _write_owner(fd)
            return _Held(fd=fd, path=path, pid=os.getpid(), created_root=created)
        owner = describe_owner(path)
        if not wait:
            _remove_root(root, created)
            raise WorkdirLockedError(
                f"the work directory {shown} is in use by another labelclean process "
                f"({owner}); wait for it to finish, or pass `wait` to wait for it")
        if not told and on_wait is not None:
            on_wait(f"the work directory {shown} is in use by another labelclean process "
                    f"({owner}); waiting for it to finish")
            told = True
        time.sleep(POLL_SECONDS)


def _try_lock(path: Path) -> int | None:
    """The descriptor of the lock file, locked; None when another process holds it."""
    if fcntl is None:
        return _try_create(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError as exc:  # flock refused here (e.g. ENOLCK on NFS): the file is the lock
        os.close(fd)
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return _try_create(path, existing_ok=True)
        raise
    if not _same_file(fd, path):  # the holder removed it between our open and flock
        os.close(fd)
        return _try_lock(path)
    return fd


def _try_create(path: Path, existing_ok: bool = False) -> int | None:
    """The lock as an exclusively created file; a dead pid's file is taken over."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        pid = (read_owner(path) or {}).get("pid")
        if existing_ok and pid is None:
            return os.open(path, os.O_RDWR)  # our own fresh flock-mode file, still empty
        if isinstance(pid, int) and not pid_alive(pid):
            path.unlink(missing_ok=True)
            return _try_create(path)
        return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _command() -> str:
    argv = list(sys.argv) or ["labelclean"]
    name = Path(argv[0]).name
    argv[0] = "labelclean" if name in ("__main__.py", "labelclean") else name
    text = " ".join(argv)
    return text if len(text) <= 160 else text[:157] + "..."


def _write_owner(fd: int) -> None:
    info = {"pid": os.getpid(), "command": _command(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"), "host": os.uname().nodename
            if hasattr(os, "uname") else ""}
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(info) + "\n").encode())
    except OSError:  # a full disk: the lock holds without its note (writes then say why)
        pass


def read_owner(path: Path) -> dict | None:
    """What the lock file says of its holder (None: nothing readable)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def describe_owner(path: Path) -> str:
    info = read_owner(path)
    if not info:
        return f"pid unknown; its lock file is {path}"
    return (f"pid {info.get('pid', '?')}, '{info.get('command', '?')}', "
            f"since {info.get('since', '?')}")


def _release(held: _Held) -> None:
    try:
        if _same_file(held.fd, held.path):
            held.path.unlink()
    except OSError:
        pass
    finally:
        os.close(held.fd)
    _remove_root(held.path.parent, held.created_root)


def _remove_root(root: Path, created: bool) -> None:
    """Remove a work directory this process made when nothing was written into it."""
    if created:
        try:
            root.rmdir()
        except OSError:
            pass
