"""Reliability of the data intake (issue 12): names that need CSV quoting, labels files as
people save them, symlinks that loop or dangle, OOF ids with or without the extension.

Each hostile input ends as a working run, one ``Error:`` line (exit 1, no traceback), or a
row of ``index.csv`` saying why a file cannot be read; no user file ever changes.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelclean.errors import LabelsFileError, OOFError
from labelclean.io.dataset import load_dataset
from labelclean.io.formats import (
    DUPLICATES_COLUMNS,
    MANIFEST_COLUMNS,
    oof_table,
    read_duplicates,
    read_index,
    read_manifest,
    read_oof_table,
    write_duplicates,
    write_index,
    write_manifest,
    write_oof,
)
from labelclean.io.labelsfile import read_header, read_labels_table
from labelclean.oof.align import load_oof
from labelclean.oof.files import read_oof

#: Class names that need CSV quoting: the delimiter, a quote, a newline.
QUOTED = ["Leaf, healthy", 'Mosaic "CMD"', "multi\nline"]


def digest(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots`` (symlinks by their target text)."""
    found = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*"))
        for p in paths:
            if p.is_symlink():
                found[str(p)] = "link:" + os.readlink(p)
            elif p.is_file():
                found[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


def write_labels(path: Path, rows: list[tuple], header=("image_id", "label"), **kw) -> Path:
    with open(path, "w", newline="", encoding=kw.pop("encoding", "utf-8")) as fh:
        writer = csv.writer(fh, **kw)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def colour_images(root: Path, names: list[str], labels: list[int]) -> None:
    """Images a small CNN can tell apart: class k is mostly channel k."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for name, k in zip(names, labels):
        arr = rng.integers(0, 40, (24, 24, 3), dtype=np.uint8)
        arr[..., k % 3] += 200
        Image.fromarray(arr).save(root / name)


@pytest.fixture
def quoted_dataset(tmp_path):
    """36 images in 3 classes named :data:`QUOTED`; ids with an emoji and a newline, one
    written without its extension; an exact copy (a duplicate group); a BOM and CRLF."""
    names = [f"img{i:04d}.png" for i in range(36)]
    names[0], names[1] = "leaf 🌿 0.png", "new\nline.png"
    labels = [i % 3 for i in range(36)]
    colour_images(tmp_path / "train", names, labels)
    shutil.copy(tmp_path / "train" / names[3], tmp_path / "train" / "copy.png")
    ids = list(names) + ["copy.png"]
    ids[1] = "new\nline"  # no extension: found by its stem
    rows = [(i, QUOTED[k]) for i, k in zip(ids, labels + [labels[3]])]
    write_labels(tmp_path / "train.csv", rows, encoding="utf-8-sig", lineterminator="\r\n")
    return tmp_path


# -- (3) names that need CSV quoting --------------------------------------------------------

def test_quoted_class_names_run_through_every_stage(cli, quoted_dataset):
    before = digest(quoted_dataset / "train", quoted_dataset / "train.csv")
    for args in (["init", "--images", "train", "--labels", "train.csv"], ["scan"], ["dedupe"],
                 ["oof", "--from", "train", "--epochs", "1", "--folds", "2",
                  "--image-size", "16"], ["noise"], ["report"]):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output, result.stderr)
    wd = quoted_dataset / ".labelclean"
    noise = cli("noise")
    assert "  Leaf, healthy  " in noise.output and '  Mosaic "CMD"  ' in noise.output
    assert "  multi\\nline  " in noise.output  # one terminal line per class
    html = (wd / "report" / "index.html").read_text()
    assert "Leaf, healthy" in html and "Mosaic &#34;CMD&#34;" in html and "multi\nline" in html
    oof = read_oof(wd / "oof.csv", QUOTED)
    assert oof.columns == QUOTED and "new\nline" in set(oof.ids)
    assert set(read_manifest(wd)["given_label"]) == set(QUOTED)
    dup = read_duplicates(wd, typed=True)
    assert set(dup["image_id"]) == {"img0003.png", "copy.png"}
    assert set(dup["label"]) == {QUOTED[0]}
    clean = pd.read_csv(wd / "clean.csv", dtype=str, keep_default_na=False)
    given = pd.read_csv(quoted_dataset / "train.csv", dtype=str, keep_default_na=False,
                        encoding="utf-8-sig")
    kept = given[given["image_id"].isin(clean["image_id"])].reset_index(drop=True)
    assert set(clean["label"]) <= set(QUOTED) and len(kept) == len(clean)
    config = quoted_dataset / "labelclean.toml"  # the same, as one 'labelclean run'
    config.write_text(config.read_text() + '\n[oof]\nfrom = "train"\nepochs = 1\nfolds = 2\n'
                      "image_size = 16\n")
    run = cli("run", "--skip", "embed", "--force")
    assert run.exit_code == 0, (run.output, run.stderr)
    assert "  noise " in run.output and "  report " in run.output
    assert digest(quoted_dataset / "train", quoted_dataset / "train.csv") == before


@pytest.mark.parametrize("fast", [False, True])
def test_every_work_file_round_trips_quoted_names(tmp_path, fast):
    ids = ["a, b.png", 'say "hi".png', "new\nline.png"]
    probs = np.eye(3)[[0, 1, 2]] * 0.8 + 0.2 / 3
    write_oof(oof_table(ids, QUOTED, np.array([0, 1, 0]), probs, QUOTED), tmp_path, fast=fast)
    assert read_header(tmp_path / "oof.csv") == (["image_id", "label", "fold", *QUOTED], ",")
    table = read_oof(tmp_path / "oof.csv", QUOTED)
    assert list(table.ids) == ids and list(table.labels) == QUOTED
    np.testing.assert_allclose(table.probs, probs, atol=1e-6)
    assert list(read_oof_table(tmp_path, text=True).columns[3:]) == QUOTED
    # predictions.csv: oof.csv's format without fold (or label)
    predictions = oof_table(ids, QUOTED, None, probs, QUOTED).drop(columns=["label", "fold"])
    write_oof(predictions, tmp_path / "predictions.csv", fast=fast)
    assert read_oof(tmp_path / "predictions.csv", QUOTED).columns == QUOTED
    manifest = pd.DataFrame({c: [""] * 3 for c in MANIFEST_COLUMNS})
    manifest.update({"image_id": ids, "given_label": QUOTED, "suggested_label": QUOTED[::-1],
                     "action": ["keep", "relabel", "drop"], "label_quality": ["0.5"] * 3})
    write_manifest(manifest, tmp_path)
    back = read_manifest(tmp_path)
    assert back["image_id"].tolist() == ids and back["given_label"].tolist() == QUOTED
    dup = pd.DataFrame({"group_id": [0, 0, 1], "image_id": ids, "label": QUOTED,
                        "keep": [True, False, True], "method": "exact", "score": 1.0,
                        "label_conflict": True})
    write_duplicates(dup[DUPLICATES_COLUMNS], tmp_path)
    assert read_duplicates(tmp_path, typed=True)["label"].tolist() == QUOTED


def test_index_and_labels_file_round_trip_quoted_names(tmp_path):
    root = tmp_path / "images"
    names = ["a, b.png", 'say "hi".png', "new\nline.png"]
    colour_images(root, names, [0, 1, 2])
    labels = write_labels(tmp_path / "t.tsv", list(zip(names, QUOTED)), delimiter="\t")
    assert read_header(labels) == (["image_id", "label"], "\t")
    ds = load_dataset(root, labels)
    assert [(r.image_id, r.label, r.problem) for r in ds.records] == [
        (n, q, None) for n, q in zip(names, QUOTED)]
    index = pd.DataFrame({"image_id": names, "path": names, "label": QUOTED,
                          "readable": True, "error": "", "width": 1, "height": 1,
                          "mode": "RGB", "format": "PNG", "bytes": 1, "sha256": ""})
    write_index(index, tmp_path)
    assert read_index(tmp_path)["label"].tolist() == QUOTED
    assert read_labels_table(labels, "image_id", "label")["label"].tolist() == QUOTED


def test_an_oof_header_with_spaces_bom_and_crlf_is_read(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_bytes('\ufeffimage_id, label ,"Leaf, healthy", Mosaic\r\n'
                     'a.png,x,0.25,0.75\r\n"b\r\nc.png",y,1,0\r\n'.encode())
    table = read_oof(path, ["Leaf, healthy", "Mosaic"])
    assert list(table.ids) == ["a.png", "b\r\nc.png"]
    np.testing.assert_allclose(table.probs, [[0.25, 0.75], [1, 0]])


# -- (12) labels files ------------------------------------------------------------------------

@pytest.fixture
def images(tmp_path):
    root = tmp_path / "images"
    colour_images(root, [f"img000{i}.png" for i in range(4)], [0, 1, 2, 0])
    return root


def test_an_image_listed_with_and_without_its_extension_is_an_error(cli, tmp_path, images):
    labels = write_labels(tmp_path / "train.csv", [("img0001.png", 1), ("img0002.png", 0),
                                                   ("img0001", 2)])
    before = digest(images, labels)
    result = cli("init", "--images", "images", "--labels", "train.csv")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        "Error: labels file train.csv: image img0001.png is listed twice, as 'img0001.png' "
        "(row 2) and 'img0001' (row 4); each image must have exactly one row: remove one of "
        "them\n")
    assert not (tmp_path / "labelclean.toml").exists() and digest(images, labels) == before


def test_an_id_without_extension_that_matches_two_files_is_an_error(tmp_path, images):
    colour_images(images, ["img0001.jpg"], [1])
    labels = write_labels(tmp_path / "train.csv", [("img0001", 1)])
    with pytest.raises(LabelsFileError, match=r"row 2 names image 'img0001', which matches 2 "
                       r"files \(img0001.jpg, img0001.png\); write the id with its extension"):
        load_dataset(images, labels)


def test_missing_labels_are_unlabeled_not_classes_and_ints_stay_ints(cli, tmp_path, images):
    labels = write_labels(tmp_path / "train.csv", [("img0000.png", 1), ("img0001.png", "NaN"),
                                                   ("img0002.png", "NA"), ("img0003.png", ""),
                                                   ("img0004.png", 2)])
    colour_images(images, ["img0004.png"], [2])
    before = digest(images, labels)
    ds = load_dataset(images, labels)
    assert ds.classes == [1, 2] and [r.label for r in ds.records] == [1, None, None, None, 2]
    result = cli("init", "--images", "images", "--labels", "train.csv")
    assert result.exit_code == 0, result.stderr
    assert result.output.startswith("Wrote labelclean.toml: 5 images, 2 classes (labels "
                                    "file). 3 unlabeled (scanned, not scored).\n")
    scan = cli("scan")
    assert scan.exit_code == 0, scan.stderr
    assert "  labeled            2   (2 classes)" in scan.output
    assert "  unlabeled          3" in scan.output
    index = read_index(tmp_path / ".labelclean")
    assert index["label"].tolist() == [1, None, None, None, 2] and index["readable"].all()
    assert digest(images, labels) == before


def test_backslashes_in_a_path_column_are_folder_separators(cli, tmp_path, images):
    sub = images / "train"
    colour_images(sub, ["a.png", "b.png"], [0, 1])
    labels = write_labels(tmp_path / "train.csv", [("a", "train\\a.png", 0),
                                                   ("b", ".\\train\\b.png", 1),
                                                   ("c", "C:\\data\\c.png", 1)],
                          header=("image_id", "path", "label"))
    ds = load_dataset(images, labels, path_col="path")
    assert [(r.path, r.problem) for r in ds.records[:3]] == [
        ("train/a.png", None), ("train/b.png", None), ("C:\\data\\c.png", "outside images root")]
    result = cli("init", "--images", "images", "--labels", "train.csv", "--path-col", "path")
    assert result.exit_code == 0 and "missing" not in result.output
    scan = cli("scan")
    assert scan.exit_code == 0, scan.output
    assert "  readable           6" in scan.output and "outside images root: 1" in scan.output
    assert "  missing            0" in scan.output


def test_a_file_whose_name_holds_a_backslash_is_found_as_it_is(tmp_path, images):
    colour_images(images, ["odd\\name.png"], [0])
    labels = write_labels(tmp_path / "train.csv", [("odd\\name.png", 0)])
    assert load_dataset(images, labels).records[0].path == "odd\\name.png"


def test_missing_files_are_counted_by_init(cli, tmp_path, images):
    write_labels(tmp_path / "train.csv", [("img0000.png", 0), ("gone.png", 1)])
    result = cli("init", "--images", "images", "--labels", "train.csv")
    assert result.exit_code == 0
    assert ("5 images, 2 classes (labels file). 3 unlabeled (scanned, not scored), 1 missing."
            in result.output)


# -- (8) symlinks that loop or dangle -----------------------------------------------------------

def test_looping_and_dangling_symlinks_are_rows_not_tracebacks(cli, tmp_path):
    root = tmp_path / "tree"
    for cls in ("cat", "dog"):
        colour_images(root / cls, ["0.png", "1.png"], [0, 1])
    os.symlink("loop.jpg", root / "cat" / "loop.jpg")
    os.symlink("nothere.jpg", root / "cat" / "dangling.jpg")
    os.symlink("..", root / "dog" / "up")  # a folder loop: never walked
    os.symlink(".", root / "dog" / "self.jpg")
    os.symlink("b.png", root / "dog" / "a.png")
    os.symlink("a.png", root / "dog" / "b.png")
    before = digest(root)
    assert cli("init", "--images", "tree").exit_code == 0
    scan = cli("scan")
    assert scan.exit_code == 0, scan.stderr
    assert "(symlink loop: 3, dangling symlink: 1)" in scan.output
    index = read_index(tmp_path / ".labelclean").set_index("image_id")
    assert index.loc["cat/loop.jpg", "error"] == "symlink loop"
    assert index.loc["cat/dangling.jpg", "error"] == "dangling symlink"
    assert not index.loc[["cat/loop.jpg", "dog/a.png", "dog/b.png"], "readable"].any()
    assert index["readable"].sum() == 4 and len(index) == 8
    assert cli("dedupe").exit_code == 0  # the other stages are not blocked
    assert digest(root) == before


def test_a_labels_file_naming_a_symlink_loop_gets_a_row(tmp_path, images):
    os.symlink("loop.png", images / "loop.png")
    loopdir = images / "d1"
    os.symlink("d2", loopdir)
    os.symlink("d1", images / "d2")
    labels = write_labels(tmp_path / "train.csv", [("loop.png", 0), ("d1/x.png", 1),
                                                   ("img0000.png", 0)])
    ds = load_dataset(images, labels)
    assert [(r.path, r.problem) for r in ds.records[:3]] == [
        ("loop.png", "symlink loop"), ("d1/x.png", "symlink loop"), ("img0000.png", None)]


# -- (13) OOF ids with or without the extension ------------------------------------------------

def _oof(path: Path, ids: list[str], probs: np.ndarray, classes) -> Path:
    frame = pd.DataFrame(probs, columns=[str(c) for c in classes])
    frame.insert(0, "image_id", ids)
    frame.to_csv(path, index=False)
    return path


def _load(path, labeled_ids, classes=(0, 1)):
    given = np.zeros(len(labeled_ids), dtype=np.int64)
    return load_oof([path], list(classes), labeled_ids, given, np.ones(len(labeled_ids), bool))


@pytest.mark.parametrize("oof_ids, labeled", [
    (["a", "b", "c"], ["a.jpg", "b.png", "c.jpeg"]),
    (["a.jpg", "b.png", "c"], ["a", "b", "c"]),
    (["c", "a.JPG", "b"], ["a.JPG", "b", "c.png"]),
])
def test_oof_ids_with_or_without_the_extension_find_their_images(tmp_path, oof_ids, labeled):
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    out = _load(_oof(tmp_path / "o.csv", oof_ids, probs, [0, 1]), labeled)
    order = [next(j for j, i in enumerate(oof_ids) if i.split(".")[0] == lab.split(".")[0])
             for lab in labeled]
    np.testing.assert_allclose(out.probs, probs[order])


def test_an_oof_id_matching_two_images_is_an_error(tmp_path):
    path = _oof(tmp_path / "o.csv", ["a", "b.jpg"], np.eye(2), [0, 1])
    with pytest.raises(OOFError, match=r"id 'a' matches 2 images of the labels file \(a.jpg, "
                                       r"a.png\); write the ids as the labels file does"):
        _load(path, ["a.jpg", "a.png", "b.jpg"])
    path = _oof(tmp_path / "p.csv", ["a", "a.jpg"], np.eye(2), [0, 1])
    with pytest.raises(OOFError, match=r"ids 'a' and 'a.jpg' both name image 'a.jpg'; keep one "
                                       r"row per image"):
        _load(path, ["a.jpg", "b.jpg"])


def test_noise_reads_an_oof_without_extensions_through_the_cli(cli, tmp_path, images):
    labels = write_labels(tmp_path / "train.csv", [(f"img000{i}.png", i % 2) for i in range(4)])
    mine = _oof(tmp_path / "mine.csv", [f"img000{i}" for i in range(4)],
                np.array([[0.9, 0.1], [0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), [0, 1])
    before = digest(images, labels, mine)
    assert cli("init", "--images", "images", "--labels", "train.csv").exit_code == 0
    assert cli("scan").exit_code == 0
    result = cli("noise", "--oof", "mine.csv")
    assert result.exit_code == 0, result.stderr
    assert "Scored 4 images x 2 classes from mine.csv" in result.output
    assert digest(images, labels, mine) == before


# -- hostile labels files of our own ----------------------------------------------------------

def test_bom_crlf_and_mixed_int_and_string_labels(tmp_path, images):
    labels = tmp_path / "train.csv"
    labels.write_bytes("\ufeffimage_id;label\r\nimg0000.png;3\r\nimg0001.png;cat\r\n"
                       "img0002.png;10\r\n".encode())
    ds = load_dataset(images, labels)
    assert ds.classes == ["10", "3", "cat"]  # not all ints: every label stays a string
    assert [r.label for r in ds.records[:3]] == ["3", "cat", "10"]


def test_a_header_only_labels_file_says_how_to_go_on(cli, tmp_path, images):
    (tmp_path / "train.csv").write_text("image_id,label\r\n")
    result = cli("init", "--images", "images", "--labels", "train.csv")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == ("Error: labels file train.csv has a header but no rows; add one "
                             "row per image, or leave out --labels for an unlabeled folder\n")


def test_unicode_and_newline_file_names_scan_and_round_trip(cli, tmp_path):
    root = tmp_path / "flat"
    names = ["ünïcödé.png", "🌿 leaf.png", "two\nlines.png", "tab\there.png"]
    colour_images(root, names, [0, 1, 2, 0])
    assert cli("init", "--images", "flat").exit_code == 0
    scan = cli("scan")
    assert scan.exit_code == 0 and "  readable           4" in scan.output
    assert sorted(read_index(tmp_path / ".labelclean")["image_id"]) == sorted(names)


@pytest.mark.parametrize("data, message", [
    ("image_id,label\nimg0000.png,café\n".encode("cp1252"),
     "is not UTF-8 text (it holds the byte 0xe9, as Latin-1 or Windows-1252 text does); "
     "save it as CSV UTF-8"),
    ("image_id,label\nimg0000.png,1\n".encode("utf-16"),
     "is UTF-16 text (it starts with a UTF-16 byte-order mark); expected UTF-8: save it as "
     "CSV UTF-8"),
])
def test_a_labels_file_that_is_not_utf8_says_so(cli, tmp_path, images, data, message):
    (tmp_path / "train.csv").write_bytes(data)
    result = cli("init", "--images", "images", "--labels", "train.csv")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == f"Error: labels file train.csv {message}\n"


def test_an_all_missing_label_column_is_an_unlabeled_dataset(cli, tmp_path, images):
    write_labels(tmp_path / "train.csv", [("img0000.png", "nan"), ("img0001.png", "")])
    result = cli("init", "--images", "images", "--labels", "train.csv")
    assert result.exit_code == 0
    assert "4 images, 0 classes (labels file). 4 unlabeled (scanned, not scored)." in (
        result.output)
    scan = cli("scan")
    assert scan.exit_code == 0 and "  unlabeled          4" in scan.output
