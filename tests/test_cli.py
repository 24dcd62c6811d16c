"""The command line: project file, overrides, errors, help text."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from labelclean.cli.main import app

from .hostile import photo, write_unreadable


def test_every_command_has_help_text(runner):
    group = __import__("typer").main.get_command(app)
    assert len(group.commands) >= 3
    for name, cmd in group.commands.items():
        assert cmd.help and len(cmd.help.strip()) > 10, name
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Usage" in result.output


def test_help_is_fast_and_imports_nothing_heavy():
    code = ("import sys, time; t=time.perf_counter(); from labelclean.cli.main import app; "
            "heavy=[m for m in ('torch','timm','faiss','cleanlab','sklearn','matplotlib','pandas')"
            " if m in sys.modules]; print(heavy, time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("]")
    assert out[0] == "[", out
    assert float(out[1]) < 1.0
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "labelclean", "--help"], capture_output=True,
                   check=True)
    assert time.perf_counter() - start < 3.0


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
    assert result.stderr.startswith("Error: project file nope.toml does not exist;")


def test_broken_config(cli, tmp_path):
    (tmp_path / "labelclean.toml").write_text("[dataset\nimages=")
    result = cli("scan")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: project file labelclean.toml is not valid TOML")


@pytest.mark.parametrize("args", [["--images", "nowhere"], ["--images", "x.txt"]])
def test_bad_images_folder(cli, tmp_path, args):
    (tmp_path / "x.txt").write_text("hi")
    result = cli("scan", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output


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
