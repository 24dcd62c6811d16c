"""Issue 12, reliability of the inputs: user files are read-only to labelclean.

Each case runs the CLI in-process in a copy of a scanned and noised project (``tmp_path`` is
the working directory) and checks the one ``Error:`` line, exit code 1, and that no file
changed: every image, the labels file, the project file, the OOF file and every file of the
work directory hash the same before and after (:func:`snapshot`).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

WD = ".labelclean"
MANIFEST = f"{WD}/manifest.csv"


def snapshot(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root`` (hidden ones included)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def refused(cli, root: Path, *args) -> str:
    """Run ``labelclean ARGS``; it must fail with one ``Error:`` line and change no file.
    Returns the message (without ``Error: `` and the newline)."""
    before = snapshot(root)
    result = cli(*args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert snapshot(root) == before
    return lines[0].removeprefix("Error: ")


@pytest.fixture(scope="module")
def built(small_demo, tmp_path_factory) -> Path:
    """A project: train_images/, train.csv, oof.csv, labelclean.toml and a work directory
    that has been scanned and noised (manifest.csv, clean.csv)."""
    from labelclean.config.project import DatasetSpec, write_project
    from labelclean.io.dataset import load_dataset
    from labelclean.noise.stage import run_noise
    from labelclean.scan.stage import scan_dataset

    from .noisefiles import demo_oof

    root = tmp_path_factory.mktemp("project")
    shutil.copytree(small_demo.images, root / "train_images")
    shutil.copy(small_demo.labels, root / "train.csv")
    demo_oof(small_demo).to_csv(root / "oof.csv", index=False)
    write_project(root / "labelclean.toml", DatasetSpec(images=root / "train_images",
                                                         labels=root / "train.csv"), root / WD)
    dataset = load_dataset(root / "train_images", root / "train.csv")
    scan_dataset(dataset, root / WD, workers=1)
    run_noise(root / WD, dataset, [root / "oof.csv"])
    return root


@pytest.fixture
def project(built, tmp_path) -> Path:
    """A fresh copy of :func:`built` in ``tmp_path`` (the CLI's working directory)."""
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    return tmp_path.resolve()


def manifest_rows(project: Path, n: int | None) -> pd.DataFrame:
    table = pd.read_csv(project / MANIFEST, dtype=str, keep_default_na=False)
    return table if n is None else table.iloc[:n]


# -- (1) apply --out may not be an input ----------------------------------------------------------

def test_apply_out_may_not_be_an_image(cli, project):
    image = sorted((project / "train_images").iterdir())[0]
    rel = f"train_images/{image.name}"
    assert refused(cli, project, "apply", "--manifest", MANIFEST, "--out", rel) == (
        f"--out {rel} is inside the images folder {project / 'train_images'}, which labelclean "
        "only reads; pass a file outside the images folder")


def test_apply_out_may_not_be_the_labels_file(cli, project):
    assert refused(cli, project, "apply", "--manifest", MANIFEST, "--out", "train.csv") == (
        f"--out train.csv is the labels file ({project / 'train.csv'}); labelclean never "
        "changes its inputs: pass another file name")


@pytest.mark.parametrize("link", ["symlink_to", "hardlink_to"])
def test_apply_out_may_not_be_a_link_to_the_labels_file(cli, project, link):
    getattr(project / "alias.csv", link)(project / "train.csv")
    assert refused(cli, project, "apply", "--manifest", MANIFEST, "--out", "alias.csv") == (
        f"--out alias.csv is the labels file ({project / 'train.csv'}); labelclean never "
        "changes its inputs: pass another file name")


def test_apply_out_may_not_be_a_folder(cli, project):
    (project / "outdir").mkdir()
    assert refused(cli, project, "apply", "--manifest", MANIFEST, "--out", "outdir") == (
        "--out outdir is a folder; expected a file name (e.g. outdir/clean.csv)")


@pytest.mark.parametrize("out, what", [
    (MANIFEST, "the manifest being applied (.labelclean/manifest.csv)"),
    ("labelclean.toml", "the project file (labelclean.toml)")])
def test_apply_out_may_not_be_the_manifest_or_the_project_file(cli, project, out, what):
    assert refused(cli, project, "apply", "--manifest", MANIFEST, "--out", out) == (
        f"--out {out} is {what}; labelclean never changes its inputs: pass another file name")


def test_apply_out_may_not_replace_a_work_directory_file(cli, project):
    assert refused(cli, project, "apply", "--manifest", MANIFEST, "--out",
                   f"{WD}/index.csv") == (
        f"--out {WD}/index.csv would replace the work directory's index.csv, which later "
        f"stages read; pass another file name (e.g. {project / WD / 'clean.csv'})")


def test_apply_out_in_a_place_that_cannot_be_written(cli, project):
    assert refused(cli, project, "apply", "--manifest", MANIFEST, "--out",
                   "train.csv/clean.csv") == (
        f"--out train.csv/clean.csv cannot be written: {project / 'train.csv'} is a file, not "
        "a folder; pass a path in a folder")
    assert refused(cli, project, "apply", "--manifest", MANIFEST, "--out", "/dev/null") == (
        "--out /dev/null exists and is not a regular file; pass a file name")
    if Path("/proc/self").is_dir():  # a folder nobody can create files in, root included
        assert refused(cli, project, "apply", "--manifest", MANIFEST, "--out",
                       "/proc/clean.csv") == (
            "--out /proc/clean.csv cannot be written (No such file or directory); pass a path "
            "in a folder you can write to")


def test_apply_out_elsewhere_still_works(cli, project):
    result = cli("apply", "--manifest", MANIFEST, "--out", "reviewed/clean.csv")
    assert result.exit_code == 0, result.output
    assert ((project / "reviewed/clean.csv").read_bytes()
            == (project / WD / "clean.csv").read_bytes())


def test_init_config_may_not_be_the_labels_file(cli, project):
    assert refused(cli, project, "init", "--images", "train_images", "--labels", "train.csv",
                   "--config", "train.csv") == (
        "--config train.csv is the labels file (train.csv); labelclean never changes its "
        "inputs: pass another file name")


# -- (11) the work directory and the report folder stay out of the images folder ------------------

@pytest.mark.parametrize("workdir, how", [
    ("train_images", "is the images folder"),
    ("train_images/.labelclean", "is inside the images folder {images}")])
def test_workdir_may_not_be_in_the_images_folder(cli, project, workdir, how):
    fix = ("labelclean writes its files there and the next scan would index them as images; "
           "pass a --workdir outside the images folder (e.g. .labelclean beside it)")
    how = how.format(images=project / "train_images")
    for command in ("scan", "report", "run"):
        assert refused(cli, project, command, "--workdir", workdir) == (
            f"the work directory {workdir} {how}; {fix}")
    assert refused(cli, project, "init", "--images", "train_images", "--workdir", workdir) == (
        f"the work directory {workdir} {how.replace(str(project / 'train_images'), 'train_images')}"
        f"; {fix}")


def test_workdir_may_not_contain_the_images_folder(cli, project):
    assert refused(cli, project, "scan", "--workdir", ".") == (
        f"the work directory . contains the images folder {project / 'train_images'}; a work "
        "directory holds only labelclean's files (it replaces them on every run); pass a "
        "--workdir beside the images folder (e.g. .labelclean)")


def test_project_file_whose_workdir_is_the_images_folder(cli, project):
    toml = project / "labelclean.toml"
    toml.write_text(toml.read_text().replace('workdir = ".labelclean"',
                                             'workdir = "train_images"'))
    assert refused(cli, project, "scan") == (
        f"the work directory {project / 'train_images'} is the images folder; labelclean "
        "writes its files there and the next scan would index them as images; pass a "
        "--workdir outside the images folder (e.g. .labelclean beside it)")


def test_workdir_may_not_be_a_file(cli, project):
    assert refused(cli, project, "scan", "--workdir", "oof.csv") == (
        "the work directory oof.csv is a file, not a folder; pass a --workdir that is a folder "
        "or does not exist yet (e.g. .labelclean)")


def test_labels_file_may_not_be_in_the_workdir(cli, project):
    """``--labels .labelclean/clean.csv``: the next noise run would replace it."""
    assert refused(cli, project, "noise", "--labels", f"{WD}/clean.csv", "--oof",
                   "oof.csv") == (
        f"the labels file {WD}/clean.csv is inside the work directory {project / WD}, whose "
        "files labelclean replaces on every run; copy it out of the work directory and pass "
        "the copy as --labels")


def test_report_out_may_not_be_in_the_images_folder(cli, project):
    assert refused(cli, project, "report", "--out", "train_images/report") == (
        f"--out train_images/report is inside the images folder {project / 'train_images'}, "
        "which labelclean only reads (the next scan would index the report's images); pass a "
        "folder outside the images folder")


def test_report_out_may_not_be_a_file_or_hold_an_input(cli, project):
    assert refused(cli, project, "report", "--out", "train.csv") == (
        "--out train.csv is a file; expected a folder (e.g. report)")
    (project / "r" / "assets").mkdir(parents=True)
    shutil.copy(project / "oof.csv", project / "r" / "assets" / "oof.csv")
    assert refused(cli, project, "report", "--out", "r", "--oof", "r/assets/oof.csv") == (
        "--out r: the OOF file (r/assets/oof.csv) is inside r/assets, which this command "
        "writes; labelclean never changes its inputs: pass another folder")


def test_check_workdir_in_the_library(tmp_path):
    from labelclean.errors import ConfigError
    from labelclean.io.dataset import load_dataset
    from labelclean.scan.stage import scan_dataset

    (tmp_path / "imgs").mkdir()
    with pytest.raises(ConfigError, match="is inside the images folder"):
        scan_dataset(load_dataset(tmp_path / "imgs"), tmp_path / "imgs" / "wd")
    assert not (tmp_path / "imgs" / "wd").exists()


# -- (4) a manifest with rows missing -------------------------------------------------------------

@pytest.mark.parametrize("rows", [0, 50])
def test_apply_refuses_a_manifest_with_rows_missing(cli, project, rows):
    manifest_rows(project, rows).to_csv(project / "cut.csv", index=False)
    labeled = len(manifest_rows(project, None))
    first = ", ".join(manifest_rows(project, None)["image_id"].iloc[rows:rows + 3])
    assert refused(cli, project, "apply", "--manifest", "cut.csv") == (
        f"manifest cut.csv has no row for {labeled - rows:,} of the {labeled:,} labeled images "
        f"(first: {first}); applied as it is, it would keep every one of them, unreadable "
        "files and duplicate copies included; apply a manifest with a row per image (as "
        "'labelclean noise' and the report's export write it), or pass --partial to take the "
        f"decisions of {project / WD / 'manifest.csv'} for the images it leaves out")


def test_apply_partial_takes_the_work_directory_decisions(cli, project):
    full = manifest_rows(project, None)
    edited = full.iloc[:50].copy()
    keep_id = edited["image_id"].iloc[0]
    edited.loc[0, ["action", "suggested_label"]] = ["drop", ""]
    edited.to_csv(project / "cut.csv", index=False)
    result = cli("apply", "--manifest", "cut.csv", "--partial", "--out", "reviewed.csv")
    assert result.exit_code == 0, result.output
    assert (f"{len(full) - 50:,} images not in the manifest: decisions of "
            f"{project / WD / 'manifest.csv'}") in result.stdout
    clean = pd.read_csv(project / "reviewed.csv", dtype=str, keep_default_na=False)
    noise_clean = pd.read_csv(project / WD / "clean.csv", dtype=str, keep_default_na=False)
    # every row but the one edited as the noise stage decided: its drops (unreadable files,
    # duplicate copies) dropped again
    expected = noise_clean[noise_clean["image_id"] != keep_id].reset_index(drop=True)
    pd.testing.assert_frame_equal(clean, expected)
    dropped = set(full.loc[full["action"] == "drop", "image_id"])
    assert dropped and not dropped & set(clean["image_id"])


def test_apply_partial_needs_the_work_directory_manifest(cli, project):
    manifest_rows(project, 50).to_csv(project / "cut.csv", index=False)
    (project / WD / "manifest.csv").unlink()
    labeled = len(pd.read_csv(project / "train.csv"))
    assert refused(cli, project, "apply", "--manifest", "cut.csv", "--partial") == (
        f"--partial takes the decisions for the {labeled - 50:,} images manifest cut.csv "
        f"leaves out from {project / WD / 'manifest.csv'}, which does not exist; run "
        "'labelclean noise' first, or apply a manifest with a row per image")


# -- (9) and (13): option ranges, shared by the command line and the project file -----------------

@pytest.mark.parametrize("args, message", [
    (("report", "--thumb-size", "0"),
     "Invalid value for '--thumb-size': Input should be greater than or equal to 16 (see "
     "'labelclean report --help')"),
    (("scan", "--workers", "-1"),
     "Invalid value for '--workers': Input should be greater than or equal to 1 (see "
     "'labelclean scan --help')"),
    (("report", "--workers", "0"),
     "Invalid value for '--workers': Input should be greater than or equal to 1 (see "
     "'labelclean report --help')"),
    (("oof", "--workers", "-1"),
     "Invalid value for '--workers': Input should be greater than or equal to 0 (see "
     "'labelclean oof --help')"),
    (("dedupe", "--radius", "99"),
     "Invalid value for '--radius': Input should be less than or equal to 32 (see "
     "'labelclean dedupe --help')"),
])
def test_out_of_range_on_the_command_line(cli, project, args, message):
    assert refused(cli, project, *args) == message


@pytest.mark.parametrize("table, message", [
    ("[report]\nthumb_size = 0", "[report] thumb_size must be between 16 and 1024, not 0"),
    ("[dedupe]\nradius = 99", "[dedupe] radius must be between 0 and 32, not 99"),
    ("[scan]\nworkers = 0", "[scan] workers must be at least 1, not 0"),
    ("[embed]\nworkers = -1", "[embed] workers must be at least 0, not -1"),
    ("[oof]\nworkers = -1", "[oof] workers must be at least 0, not -1"),
])
def test_out_of_range_in_the_project_file(cli, project, table, message):
    toml = project / "labelclean.toml"
    toml.write_text(toml.read_text() + "\n" + table + "\n")
    assert refused(cli, project, "scan") == f"labelclean.toml: {message}"


def test_in_process_oof_workers_are_accepted(project):
    from labelclean.pipeline.stages import get_stage, load_project

    (project / "zero.toml").write_text((project / "labelclean.toml").read_text()
                                       + "\n[oof]\nworkers = 0\n")
    loaded = load_project(project / "zero.toml")
    assert get_stage("oof").resolve(loaded).workers == 0


def test_config_that_is_a_folder_or_not_text(cli, project):
    assert refused(cli, project, "scan", "--config", "train_images") == (
        "project file train_images is a folder; pass the labelclean.toml file (e.g. "
        "train_images/labelclean.toml)")
    image = sorted((project / "train_images").glob("*.jpg"))[0]
    (project / "binary.toml").write_bytes(image.read_bytes()[:64])
    assert refused(cli, project, "scan", "--config", "binary.toml") == (
        "project file binary.toml is not UTF-8 text (byte 0: invalid start byte); expected a "
        "labelclean.toml; fix it or run 'labelclean init' again")


def test_stages_refuse_a_labels_file_other_than_the_scanned_one(cli, project):
    """A stage that works from the scan reads the scanned labels: naming another labels file
    is one error (not silently ignored); a byte-identical copy is accepted."""
    other = project / "other.csv"
    table = pd.read_csv(project / "train.csv", dtype=str)
    table.iloc[0, 1], table.iloc[1, 1] = table.iloc[1, 1], table.iloc[0, 1]
    table.to_csv(other, index=False)
    message = refused(cli, project, "noise", "--labels", str(other), "--oof", "oof.csv")
    assert message.startswith(f"{project / WD} was scanned with the labels file ")
    assert message.endswith(f"not {other}; run 'labelclean scan' to use {other}")
    shutil.copy(project / "train.csv", other)
    result = cli("noise", "--labels", str(other), "--oof", "oof.csv")
    assert result.exit_code == 0, result.output
