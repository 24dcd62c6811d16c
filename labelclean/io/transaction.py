"""A stage is a transaction: its files appear together when it has finished, or not at all.

Inside :func:`stage_transaction`, a file written through
:func:`labelclean.io.workdir.atomic_path` stays under its temporary name beside its target
until the stage has finished; then every one is renamed into place, the stage record
last, and files the stage dropped are removed. A stage that fails or is interrupted
leaves the work directory as it was: its temporary files and the folders it made go.

The renames are first written to a journal (``.journal.json``): a process killed half-way
through them is completed by the next run (roll forward), which also removes the
temporary files (``.<name>.<random>.tmp``) a killed process left. A transaction holds the
work directory's lock (:mod:`labelclean.io.lock`), so no two processes write one work
directory at once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from labelclean.errors import WorkdirWriteError, environment_error
from labelclean.io.lock import holds_lock, workdir_lock

JOURNAL = ".journal.json"
#: the temporary files of atomic writes (``tempfile.mkstemp``'s random part is 8 characters)
TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
#: how deep below the work directory stale temporary files are looked for (report/assets/x)
STALE_DEPTH = 3


def _abs(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(path))


class Transaction:
    """The files one stage run has written and not yet put in place (see the module)."""

    def __init__(self, root: str | os.PathLike, stage: str) -> None:
        self.root, self.stage, self.pid = _abs(root), stage, os.getpid()
        self.shown = Path(root)  # as the user named it, for messages
        self.moves: dict[Path, Path] = {}  # target -> temporary file, in order
        self.records: dict[Path, Path] = {}  # the same, put in place after the others
        self.removals: list[Path] = []
        self.made_dirs: list[Path] = []
        self.committing = False

    def add(self, target: str | os.PathLike, tmp: Path, *, last: bool = False) -> None:
        """Put ``tmp`` onto ``target`` at the commit (``last``: after the other files)."""
        target = _abs(target)
        self._drop(target)
        (self.records if last else self.moves)[target] = Path(tmp)
        if target in self.removals:
            self.removals.remove(target)

    def remove(self, target: str | os.PathLike) -> None:
        """Remove ``target`` at the commit."""
        target = _abs(target)
        self._drop(target)
        if target not in self.removals:
            self.removals.append(target)

    def pending(self, target: str | os.PathLike) -> Path | None:
        """The temporary file that will become ``target`` (None: none is waiting)."""
        target = _abs(target)
        return self.moves.get(target) or self.records.get(target)

    def made_dir(self, folder: Path) -> None:
        self.made_dirs.append(_abs(folder))

    def _drop(self, target: Path) -> None:
        for table in (self.moves, self.records):
            old = table.pop(target, None)
            if old is not None:
                old.unlink(missing_ok=True)

    def check(self) -> None:
        """The work directory must still be there, locked by this process."""
        if not holds_lock(self.root):
            raise WorkdirWriteError(
                f"the work directory {self.shown} was deleted or moved while the {self.stage} "
                "stage ran, so nothing of this run was kept; run the command again")

    def commit(self) -> None:
        """Put every file in place (through the journal), the records last."""
        if not (self.moves or self.records or self.removals):
            return
        self.check()
        journal = {"stage": self.stage,
                   "moves": [[self._rel(t), self._rel(g)] for g, t in self.moves.items()],
                   "remove": [self._rel(p) for p in self.removals],
                   "records": [[self._rel(t), self._rel(g)] for g, t in self.records.items()]}
        _write_journal(self.root, journal)
        self.committing = True
        with _signals_deferred():
            apply_journal(self.root, journal)
            (self.root / JOURNAL).unlink()

    def rollback(self) -> None:
        """Remove the temporary files and the folders made for them (not after the journal:
        then the next run completes the commit)."""
        if self.committing:
            return
        for tmp in [*self.moves.values(), *self.records.values()]:
            tmp.unlink(missing_ok=True)
        self.moves.clear()
        self.records.clear()
        for folder in sorted(self.made_dirs, key=lambda p: len(p.parts), reverse=True):
            try:
                folder.rmdir()
            except OSError:
                pass

    def _rel(self, path: Path) -> str:
        """Inside the work directory: relative (a moved work directory still recovers)."""
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) \
            else str(path)


#: the open transactions of this process, innermost last
_ACTIVE: list[Transaction] = []


def current() -> Transaction | None:
    """The open transaction of this process (None in a forked worker or outside a stage)."""
    pid = os.getpid()
    return next((tx for tx in reversed(_ACTIVE) if tx.pid == pid), None)


@contextmanager
def stage_transaction(root: str | os.PathLike, stage: str, *, wait: bool = False,
                      on_wait: Callable[[str], None] | None = None) -> Iterator[Transaction]:
    """Run a stage's block as one transaction of work directory ``root`` (see the module):
    take the lock (``wait``: see :func:`~labelclean.io.lock.workdir_lock`), finish an
    interrupted commit, remove stale temporary files, then commit or roll back the block."""
    outer = current()
    if outer is not None and outer.root == _abs(root):
        yield outer
        return
    with workdir_lock(root, wait=wait, on_wait=on_wait):
        recover(root)
        tx = Transaction(root, stage)
        _ACTIVE.append(tx)
        try:
            yield tx
            tx.commit()
        except BaseException:
            tx.rollback()
            raise
        finally:
            _ACTIVE.remove(tx)


def recover(root: str | os.PathLike) -> None:
    """Complete a commit a killed process left half-done, and remove stale temporary files.
    Call it holding the lock."""
    root = _abs(root)
    path = root / JOURNAL
    if path.exists():
        try:
            journal = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            journal = None
        if isinstance(journal, dict):
            apply_journal(root, journal)
        path.unlink(missing_ok=True)
    remove_stale(root)


def apply_journal(root: Path, journal: dict) -> None:
    """Rename the journal's files into place, remove its removals, then its records."""
    def where(name: str) -> Path:
        return root / name if not os.path.isabs(name) else Path(name)

    for tmp, target in journal.get("moves", []):
        if where(tmp).exists():
            os.replace(where(tmp), where(target))
    for name in journal.get("remove", []):
        where(name).unlink(missing_ok=True)
    for tmp, target in journal.get("records", []):
        if where(tmp).exists():
            os.replace(where(tmp), where(target))


def remove_stale(root: Path) -> int:
    """Remove the temporary files of atomic writes under ``root``; how many there were."""
    removed = 0
    for folder, dirs, names in os.walk(root):
        if len(Path(folder).relative_to(root).parts) >= STALE_DEPTH:
            dirs.clear()
        for name in names:
            if TEMPORARY.match(name):
                try:
                    os.unlink(os.path.join(folder, name))
                    removed += 1
                except OSError:
                    pass
    return removed


def _write_journal(root: Path, journal: dict) -> None:
    target, tmp = root / JOURNAL, None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{JOURNAL}.", suffix=".tmp", dir=root)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(journal, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise (environment_error(exc, target) or exc) from None


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while the renames run (delivered right after)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
            signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
