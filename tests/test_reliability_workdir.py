"""Reliability of the work directory (issue 12): a stage is a transaction, the environment's
errors are errors, one process per work directory, Ctrl-C, a moved work directory.

Every test drives the CLI and checks the exit code, the message, that the work directory is
consistent (every file the previous run's bytes, or a recomputation instead of a reuse) and
that no user file changed. A full disk and a read-only file system are real (a small tmpfs,
a read-only bind mount) where ``mount`` is allowed, and injected ``OSError``\\ s always.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from labelclean.cli.app import INTERRUPTED
from typer.testing import CliRunner

EMBED = ("embed", "--model", "resnet10t", "--no-pretrained", "--image-size", "64",
         "--workers", "0")
OOF = ("oof", "--from", "embeddings", "--folds", "2")
FULL = "the disk is full; free some space, or pass --workdir naming a folder on another disk"
READ_ONLY = "the file system is read-only; pass --workdir naming a folder on a writable disk"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too): relative path -> sha256."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def prepared(small_demo, tmp_path_factory) -> Path:
    """A project over the small demo with every stage run once (tiny random-init embeddings,
    OOF from them): ``labelclean.toml`` and ``.labelclean``."""
    from labelclean.cli.main import app

    root = tmp_path_factory.mktemp("prepared")
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for args in (("init", "--images", small_demo.images, "--labels", small_demo.labels),
                     ("scan",), EMBED, ("dedupe",), OOF, ("noise",), ("report",)):
            result = runner.invoke(app, [str(a) for a in args])
            assert result.exit_code == 0, (args, result.output)
    return root


@pytest.fixture
def wd(prepared, tmp_path) -> Path:
    """A copy of the prepared project in ``tmp_path`` (modification times kept): its work
    directory."""
    shutil.copy2(prepared / "labelclean.toml", tmp_path / "labelclean.toml")
    shutil.copytree(prepared / ".labelclean", tmp_path / ".labelclean",
                    copy_function=shutil.copy2)
    return tmp_path / ".labelclean"


@pytest.fixture(autouse=True)
def untouched(small_demo):
    """No test may change a user file (images, labels file, truth, class names)."""
    before = snapshot(small_demo.root)
    yield
    assert snapshot(small_demo.root) == before


def fail_on(monkeypatch, name: str, exc: BaseException) -> None:
    """The writer of the work-directory file ``name`` writes part of it, then raises
    ``exc`` (numpy.save or the .npy header writer for .npy files, DataFrame.to_csv for CSV,
    Path.write_text else)."""
    def hit(path) -> bool:
        return Path(str(path)).name.startswith(f".{name}.")

    if name.endswith(".npy"):
        real_save, real_header = np.save, np.lib.format.write_array_header_1_0

        def save(fh, array, *a, **kw):
            if hit(getattr(fh, "name", fh)):
                fh.write(b"\x93NUMPY half")
                raise exc
            return real_save(fh, array, *a, **kw)

        def header(fh, data):  # the scan writes thumbs.npy's header, then row by row
            if hit(getattr(fh, "name", fh)):
                fh.write(b"\x93NUMPY half")
                raise exc
            return real_header(fh, data)
        monkeypatch.setattr(np, "save", save)
        monkeypatch.setattr(np.lib.format, "write_array_header_1_0", header)
    elif name.endswith(".csv"):
        real_csv = pd.DataFrame.to_csv

        def to_csv(self, path=None, *a, **kw):
            if path is not None and hit(path):
                Path(path).write_text("image_id,half")
                raise exc
            return real_csv(self, path, *a, **kw)
        monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    else:
        real_text = Path.write_text

        def write_text(self, *a, **kw):
            if hit(self):
                real_text(self, "half")
                raise exc
            return real_text(self, *a, **kw)
        monkeypatch.setattr(Path, "write_text", write_text)


def no_space() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


def tmp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


# -- (2) a stage is a transaction ---------------------------------------------------------------

def test_scan_failing_half_way_keeps_the_previous_scan(cli, wd, monkeypatch):
    before = snapshot(wd)
    with monkeypatch.context() as mp:
        fail_on(mp, "thumbs.npy", no_space())
        result = cli("scan", "--hash", "phash,dhash")  # new settings: all three rewritten
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {wd / 'thumbs.npy'}: {FULL}\n"
    assert snapshot(wd) == before  # not the new index.csv beside the old thumbs.npy
    again = cli("scan")  # the old scan, whole: honestly reused
    assert again.exit_code == 0 and "unchanged, reused" in again.stdout
    assert "unchanged, reused" in cli("dedupe").stdout
    redo = cli("scan", "--hash", "phash,dhash")
    assert redo.exit_code == 0 and "unchanged, reused" not in redo.stdout
    assert "dhash" in pd.read_csv(wd / "hashes.csv").columns


def test_every_stage_rolls_back_a_failed_write(cli, wd, monkeypatch):
    """A later file of a stage fails: the earlier ones it wrote do not appear either."""
    for args, name in ((("dedupe", "--force"), "duplicates.csv"), ((*OOF, "--force"), "oof.csv"),
                       (("noise",), "clean.csv"), (("report",), "index.html")):
        before = snapshot(wd)
        with monkeypatch.context() as mp:
            fail_on(mp, name, no_space())
            result = cli(*args)
        assert result.exit_code == 1, args
        target = wd / ("report/index.html" if name == "index.html" else name)
        assert result.stderr == f"Error: cannot write {target}: {FULL}\n", args
        assert snapshot(wd) == before, args


def test_reuse_checks_every_file_the_stage_wrote(cli, wd):
    thumbs = (wd / "thumbs.npy").read_bytes()
    np.save(wd / "thumbs.npy", np.zeros_like(np.load(wd / "thumbs.npy")))  # not the scan's
    result = cli("scan")
    assert result.exit_code == 0 and "unchanged, reused" not in result.stdout
    assert (wd / "thumbs.npy").read_bytes() == thumbs
    record = json.loads((wd / "stages" / "scan.json").read_text())
    assert set(record["files"]) == {"index.csv", "hashes.csv", "thumbs.npy"}
    assert record["files"]["thumbs.npy"][0] == len(thumbs)


def test_stale_temporary_files_of_a_killed_run_are_removed(cli, wd):
    stale = [wd / ".index.csv.k1ll3d00.tmp", wd / "stages" / ".scan.json.abcd_123.tmp",
             wd / "report" / "assets" / "thumbs" / ".0a1b2c.jpg.zzzzzzzz.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    result = cli("scan")
    assert result.exit_code == 0 and "unchanged, reused" in result.stdout
    assert tmp_files(wd) == []


def test_a_commit_cut_short_is_completed_by_the_next_run(cli, wd, monkeypatch):
    from labelclean.io import transaction

    def first_rename_only(root, journal):
        tmp, target = journal["moves"][0]
        os.replace(root / tmp, root / target)
        raise KeyboardInterrupt  # stands for a kill between two renames

    with monkeypatch.context() as mp:
        mp.setattr(transaction, "apply_journal", first_rename_only)
        result = cli("scan", "--hash", "phash,dhash")
    assert result.exit_code == 130
    assert (wd / transaction.JOURNAL).exists()
    again = cli("scan", "--hash", "phash,dhash")
    assert again.exit_code == 0 and "unchanged, reused" in again.stdout  # the new scan, whole
    assert "dhash" in pd.read_csv(wd / "hashes.csv").columns
    assert not (wd / transaction.JOURNAL).exists() and tmp_files(wd) == []


# -- (6) the environment's errors are errors -------------------------------------------------

@pytest.mark.parametrize("code, found", [
    (errno.EROFS, READ_ONLY),
    (errno.EACCES, "permission denied; give yourself write permission (chmod u+w), or pass "
                   "--workdir naming a folder you can write to"),
    (errno.EDQUOT, "the disk quota is exceeded; free some space, or pass --workdir naming a "
                   "folder on another disk")])
def test_injected_write_errors_are_one_error_line(cli, wd, monkeypatch, code, found):
    before = snapshot(wd)
    fail_on(monkeypatch, "duplicates.csv", OSError(code, os.strerror(code)))
    result = cli("dedupe", "--force")
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {wd / 'duplicates.csv'}: {found}\n"
    assert snapshot(wd) == before


def test_an_unmapped_os_error_of_the_environment_is_one_line_too(cli, wd, monkeypatch):
    from labelclean.dedupe import stage

    def denied(*a, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", str(wd / "index.csv"))

    monkeypatch.setattr(stage, "read_index", denied)
    result = cli("dedupe", "--force")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot access {wd / 'index.csv'}: permission "
                                    "denied; ")
    assert result.stderr.count("\n") == 1


def test_embed_reserves_its_memmap_instead_of_dying_of_a_bus_error(cli, wd, monkeypatch):
    from labelclean.embed import stage

    before = snapshot(wd)
    monkeypatch.setattr(stage, "check_free_space", lambda *a: None)  # the disk fills after

    def full(fd, offset, length):
        raise no_space()

    monkeypatch.setattr(os, "posix_fallocate", full)
    result = cli(*EMBED, "--dtype", "float32")  # a new file: the old one is float16
    assert result.exit_code == 1
    npy = wd / "embeddings" / "resnet10t.npy"
    assert result.stderr.startswith(f"Error: cannot write {npy}: the disk is full (")
    assert "needed); free some space, or pass --workdir" in result.stderr
    assert snapshot(wd) == before


@pytest.fixture
def mount(tmp_path):
    """``mount(options, source=None)``: a tmpfs (or a bind mount of ``source``) at a new
    folder, unmounted after the test; skips when mounting is not allowed here."""
    points: list[Path] = []

    def make(options: str, source: Path | None = None) -> Path:
        point = tmp_path / f"mnt{len(points)}"
        point.mkdir()
        commands = ([["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)]]
                    if source is None else
                    [["mount", "--bind", str(source), str(point)],
                     ["mount", "-o", f"remount,bind,{options}", str(point)]])
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                if points or command is not commands[0]:
                    subprocess.run(["umount", str(point)], capture_output=True)
                pytest.skip(f"cannot mount here: {done.stderr.strip()}")
            if command is commands[0]:
                points.append(point)
        return point

    yield make
    for point in reversed(points):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(folder: Path, leave: int) -> None:
    """Fill ``folder``'s file system until ``leave`` bytes are free."""
    st = os.statvfs(folder)
    (folder / "filler").write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))


def test_a_real_full_disk(cli, wd, mount):
    disk = mount("size=4m")
    shutil.copytree(wd, disk / "wd", copy_function=shutil.copy2)
    fill(disk, 160 * 1024)  # room for index.csv and hashes.csv, not for thumbs.npy
    before = snapshot(disk / "wd")
    result = cli("scan", "--workdir", disk / "wd", "--force")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot write {disk / 'wd' / 'thumbs.npy'}: the "
                                    "disk is full (")
    assert result.stderr.endswith(f" needed); {FULL.split('; ', 1)[1]}\n")
    assert snapshot(disk / "wd") == before
    embed = cli(*EMBED, "--workdir", disk / "wd", "--dtype", "float32")
    assert embed.exit_code == 1, embed.output
    assert embed.stderr.startswith(f"Error: cannot write {disk / 'wd' / 'embeddings'}")
    assert "resnet10t.npy: the disk is full (" in embed.stderr
    assert snapshot(disk / "wd") == before


@pytest.mark.parametrize("args", [("scan", "--force"), ("dedupe", "--force"), EMBED,
                                  (*OOF, "--force"), ("noise",), ("report",)],
                         ids=lambda a: a[0])
def test_a_read_only_work_directory(cli, wd, mount, args):
    ro = mount("ro", source=wd)
    before = snapshot(wd)
    result = cli(*args, "--workdir", ro)
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write to the work directory {ro}: {READ_ONLY}\n"
    assert snapshot(wd) == before


def test_a_read_only_current_directory(cli, tmp_path, mount, monkeypatch, small_demo):
    project = tmp_path / "project"
    project.mkdir()
    (project / "labelclean.toml").write_text(
        f'[dataset]\nimages = "{small_demo.images}"\nlabels = "{small_demo.labels}"\n'
        'workdir = ".labelclean"\n')
    monkeypatch.chdir(mount("ro", source=project))
    result = cli("scan")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot write to the work directory ")
    assert result.stderr.endswith(f".labelclean: {READ_ONLY}\n")
    assert sorted(os.listdir(project)) == ["labelclean.toml"]


# -- (13) Ctrl-C, a moved work directory ----------------------------------------------------------

def test_ctrl_c_exits_130_and_rolls_the_stage_back(cli, wd, monkeypatch):
    before = snapshot(wd)
    fail_on(monkeypatch, "thumbs.npy", KeyboardInterrupt())
    result = cli("scan", "--force")
    assert result.exit_code == 130
    assert result.stderr == f"Error: {INTERRUPTED}\n"
    assert "a re-run resumes" in INTERRUPTED
    assert snapshot(wd) == before


def test_ctrl_c_in_run_keeps_the_finished_stages(cli, wd, monkeypatch):
    dupes = (wd / "duplicates.csv").read_bytes()
    with monkeypatch.context() as mp:
        fail_on(mp, "duplicates.csv", KeyboardInterrupt())
        result = cli("run", "--stages", "scan,dedupe", "--force")
    assert result.exit_code == 130 and result.stderr == f"Error: {INTERRUPTED}\n"
    assert "scan" in result.stdout  # finished and kept
    assert (wd / "duplicates.csv").read_bytes() == dupes and tmp_files(wd) == []
    assert cli("run", "--stages", "scan,dedupe").exit_code == 0


def test_a_moved_work_directory_is_reused(cli, wd, tmp_path):
    # ``wd`` is a copy of another project's work directory, made elsewhere: already a move
    for args in (("scan",), ("dedupe",), OOF):
        result = cli(*args)
        assert result.exit_code == 0 and "unchanged, reused" in result.stdout, args
    os.rename(wd, tmp_path / "moved")
    for args in (("dedupe",), OOF):
        result = cli(*args, "--workdir", "moved")
        assert result.exit_code == 0 and "unchanged, reused" in result.stdout, args


# -- (10) one process per work directory ----------------------------------------------------------

def labelclean(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labelclean", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_a_second_process_stops_at_once_naming_the_first(wd, tmp_path):
    from labelclean.io.lock import workdir_lock

    before = snapshot(wd)
    with workdir_lock(wd):
        second = labelclean("scan", "--force", cwd=tmp_path)
        _, stderr = second.communicate(timeout=120)
    assert second.returncode == 1
    assert stderr.startswith(f"Error: the work directory {wd} is in use by another labelclean "
                             f"process (pid {os.getpid()}, '")
    assert stderr.endswith("); wait for it to finish, or pass --wait to wait for it\n")
    assert stderr.count("\n") == 1
    assert snapshot(wd) == before and not (wd / ".lock").exists()


def test_wait_waits_for_the_first_process(wd, tmp_path):
    from labelclean.io.lock import workdir_lock

    with workdir_lock(wd):
        second = labelclean("dedupe", "--wait", cwd=tmp_path)
        watchdog = threading.Timer(120, second.kill)
        watchdog.start()
        waiting = second.stderr.readline()  # printed once it found the lock taken
    stdout, stderr = second.communicate(timeout=120)
    watchdog.cancel()
    assert waiting.startswith(f"Waiting: the work directory {wd} is in use by another "
                              f"labelclean process (pid {os.getpid()}, ")
    assert second.returncode == 0, stderr
    assert "unchanged, reused" in stdout


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.parametrize("flock", [True, False], ids=["flock", "file-only"])
def test_the_lock_of_a_dead_process_is_taken_over(cli, wd, monkeypatch, flock):
    from labelclean.io import lock

    if not flock:
        monkeypatch.setattr(lock, "fcntl", None)
    (wd / ".lock").write_text(json.dumps({"pid": dead_pid(), "command": "labelclean scan",
                                          "since": "yesterday"}))
    result = cli("scan")
    assert result.exit_code == 0, result.output
    assert not (wd / ".lock").exists()


def test_without_flock_a_live_holder_is_named(cli, wd, monkeypatch):
    from labelclean.io import lock

    monkeypatch.setattr(lock, "fcntl", None)
    (wd / ".lock").write_text(json.dumps({"pid": os.getppid(), "command": "labelclean oof",
                                          "since": "2025-01-01 10:00:00"}))
    result = cli("dedupe")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: the work directory {wd} is in use by another labelclean "
                             f"process (pid {os.getppid()}, 'labelclean oof', since 2025-01-01 "
                             "10:00:00); wait for it to finish, or pass --wait to wait for it\n")


def test_run_takes_the_lock_once_for_all_its_stages(cli, wd, monkeypatch):
    from labelclean.io import lock

    taken = []
    real = lock._acquire
    monkeypatch.setattr(lock, "_acquire", lambda *a: taken.append(a[0]) or real(*a))
    result = cli("run", "--stages", "scan,dedupe")
    assert result.exit_code == 0, result.output
    assert taken == [wd]


# -- hostile work directories ---------------------------------------------------------------------

def test_a_work_directory_that_is_a_file(cli, tmp_path, prepared):
    shutil.copy2(prepared / "labelclean.toml", tmp_path / "labelclean.toml")
    (tmp_path / "wd").write_text("my notes")
    result = cli("scan", "--workdir", "wd")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the work directory ")
    assert result.stderr.endswith("wd is a file, not a folder; pass a --workdir that is a "
                                  "folder or does not exist yet (e.g. .labelclean)\n")
    assert (tmp_path / "wd").read_text() == "my notes"


def test_a_work_directory_deleted_while_a_stage_runs(cli, wd, monkeypatch):
    real_csv = pd.DataFrame.to_csv

    def delete_then_write(self, *a, **kw):  # index.csv, once every image is scanned
        shutil.rmtree(wd, ignore_errors=True)
        return real_csv(self, *a, **kw)

    monkeypatch.setattr(pd.DataFrame, "to_csv", delete_then_write)
    result = cli("scan", "--force")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: the work directory {wd} was deleted or moved while the "
                             "scan stage ran, so nothing of this run was kept; run the "
                             "command again\n")
    assert not wd.exists()  # not made again, half-filled


def test_a_failed_first_stage_leaves_no_work_directory(cli, tmp_path, prepared, monkeypatch):
    shutil.copy2(prepared / "labelclean.toml", tmp_path / "labelclean.toml")
    fail_on(monkeypatch, "thumbs.npy", no_space())
    result = cli("scan", "--workdir", "fresh")
    assert result.exit_code == 1 and "the disk is full" in result.stderr
    assert not (tmp_path / "fresh").exists()
    assert cli("dedupe", "--workdir", "none").exit_code == 1  # nothing scanned: an error
    assert not (tmp_path / "none").exists()
