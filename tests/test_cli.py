"""The command line: project file, overrides, errors, help text."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import labelclean.cli.main  # noqa: F401  (registers every command on the app)
import pytest
import typer
from labelclean.cli.app import app

from .hostile import photo, write_unreadable

#: Every command, in the order ``labelclean --help`` lists them (the order a user runs them).
COMMANDS = ["init", "scan", "dedupe", "embed", "oof", "noise", "report", "apply", "train",
            "predict", "run", "demo"]

#: Modules too heavy to import before a command needs them.
HEAVY = ("torch", "timm", "faiss", "cleanlab", "sklearn", "matplotlib", "pandas")


def unboxed(text: str) -> str:
    """Help text without rich's box drawing and line wrapping."""
    return " ".join(re.sub("[\u2500-\u257f]", " ", text).split())


def test_every_command_has_help_text(runner):
    group = typer.main.get_command(app)
    assert group.list_commands(group.context_class(group)) == COMMANDS
    listing = runner.invoke(app, ["--help"])
    assert listing.exit_code == 0
    for name in COMMANDS:
        cmd = group.commands[name]
        doc = inspect.getdoc(cmd.callback)
        assert doc, name
        first_line = doc.splitlines()[0]
        assert first_line.endswith("."), name
        assert cmd.get_short_help_str(limit=1000) == first_line
        assert f" {name} {first_line} " in f" {unboxed(listing.output)} ", name
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        shown = unboxed(result.output)
        assert shown.startswith(f"Usage: labelclean {name} ") and first_line in shown, name


def test_help_imports_nothing_heavy():
    """``labelclean --help`` in a fresh process: it works and imports no heavy module."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "labelclean", "--help"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Usage: " in done.stdout and " demo " in unboxed(done.stdout)
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "labelclean" in imported
    assert [m for m in HEAVY if m in imported] == []


def test_entry_point_exit_code_of_a_user_error(tmp_path):
    """The real entry point: one error line on stderr, nothing on stdout, exit code 1."""
    done = subprocess.run([sys.executable, "-m", "labelclean", "scan", "--images", "nowhere"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == "Error: images folder nowhere does not exist; pass --images DIR\n"


@pytest.mark.parametrize("command", ["init", "scan", "dedupe", "embed", "oof", "noise",
                                     "report", "run"])
def test_no_dataset_error(cli, command):
    result = cli(command)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == ("Error: no dataset: run 'labelclean init --images DIR' "
                             "or pass --images\n")


def test_init_then_scan_uses_project_file(cli, tmp_path):
    images = tmp_path / "train_images"
    images.mkdir()
    for i in range(3):
        photo(i).save(images / f"{i}.jpg")
    write_unreadable(images)
    (tmp_path / "train.csv").write_text("image_id,label\n0.jpg,0\n1.jpg,1\n2.jpg,1\n"
                                        "zero.jpg,0\n")
    result = cli("init", "--images", "train_images", "--labels", "train.csv")
    assert result.exit_code == 0, result.output
    assert "Wrote labelclean.toml: 9 images, 2 classes (labels file)." in result.output
    toml = (tmp_path / "labelclean.toml").read_text()
    assert 'images = "train_images"' in toml and 'workdir = ".labelclean"' in toml
    result = cli("scan")
    assert result.exit_code == 0, result.output
    assert "Scanned 9 files" in result.output
    assert "unreadable         6" in result.output
    assert "labeled            4" in result.output
    assert (tmp_path / ".labelclean" / "index.csv").exists()
    assert "unchanged, reused" in cli("scan").output
    other = tmp_path / "elsewhere"
    assert cli("scan", "--workdir", other).exit_code == 0
    assert (other / "index.csv").exists()


def test_bad_labels_file_is_one_error_line(cli, tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "train.csv").write_text("id,label\na.jpg,1\n")
    result = cli("scan", "--images", "imgs", "--labels", "train.csv")
    assert result.exit_code == 1
    assert result.stderr == ("Error: labels file train.csv has no column 'image_id' "
                             "(columns: id, label); pass --id-col NAME\n")


def test_missing_explicit_config(cli):
    result = cli("scan", "--config", "nope.toml")
    assert result.exit_code == 1
    assert result.stderr == ("Error: project file nope.toml does not exist; run 'labelclean "
                             "init --images DIR' to create one\n")


def test_broken_config(cli, tmp_path):
    (tmp_path / "labelclean.toml").write_text("[dataset\nimages=")
    result = cli("scan")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: project file labelclean.toml is not valid TOML (")
    assert result.stderr.endswith("); fix it or run 'labelclean init' again\n")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("args, error", [
    (["--images", "nowhere"], "images folder nowhere does not exist; pass --images DIR"),
    (["--images", "x.txt"], "--images must be a folder, but x.txt is a file"),
])
def test_bad_images_folder(cli, tmp_path, args, error):
    (tmp_path / "x.txt").write_text("hi")
    result = cli("scan", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {error}\n"


@pytest.mark.parametrize("args, start, end", [
    (["embed", "--batch-size", "0"], "Error: Invalid value for '--batch-size': ",
     "(see 'labelclean embed --help')\n"),
    (["scna"], "Error: No such command 'scna'.", "(see 'labelclean --help')\n"),
    (["dedupe", "--radius", "ten"], "Error: Invalid value for '--radius': ",
     "(see 'labelclean dedupe --help')\n"),
])
def test_bad_options_are_one_error_line_and_exit_1(cli, args, start, end):
    """click words the middle (its wording varies by version); labelclean frames it."""
    result = cli(*args)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(start) and result.stderr.endswith(end)
    assert result.stderr.count("\n") == 1
