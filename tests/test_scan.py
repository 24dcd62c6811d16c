"""The scan stage: hostile files become rows, unusual files are read correctly."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from labelclean.io.dataset import load_dataset
from labelclean.io.formats import INDEX_COLUMNS, read_hashes, read_index
from labelclean.scan.stage import scan_dataset

from .hostile import photo, write_readable, write_unreadable


def scan(root, labels=None, workdir=None, **kw):
    dataset = load_dataset(root, labels)
    return scan_dataset(dataset, workdir or root.parent / "work", **kw)


def test_hostile_files_are_rows_with_reasons(tmp_path):
    expected = write_unreadable(tmp_path / "images")
    result = scan(tmp_path / "images", workers=2)
    rows = result.index.set_index("image_id")
    assert list(result.index.columns) == INDEX_COLUMNS
    for name, reason in expected.items():
        assert not rows.loc[name, "readable"], name
        assert rows.loc[name, "error"].startswith(reason), (name, rows.loc[name, "error"])
    bomb = rows.loc["bomb.png", "error"]
    assert bomb.startswith("decompression bomb: declares 3,600,000,000 pixels")
    assert result.summary["unreadable"] == len(expected)


def test_unusual_images_are_read_correctly(tmp_path):
    expected = write_readable(tmp_path / "images")
    result = scan(tmp_path / "images")
    rows = result.index.set_index("image_id")
    for name, (width, height, mode, fmt) in expected.items():
        row = rows.loc[name]
        assert row["readable"], (name, row["error"])
        assert (row["width"], row["height"], row["format"]) == (width, height, fmt), name
        assert row["mode"] == mode, name
        assert len(row["sha256"]) == 64
    hashes = read_hashes(tmp_path / "work").set_index("image_id")
    assert all(len(h) == 16 for h in hashes.loc[list(expected), "phash"])


def test_missing_and_outside_root_files_are_never_opened(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    photo(0).save(images / "ok.jpg")
    secret = tmp_path / "secret.jpg"
    photo(1).save(secret)
    os.symlink(secret, images / "link.jpg")
    labels = tmp_path / "train.csv"
    labels.write_text(f"image_id,label\nok.jpg,0\ngone.jpg,1\n../secret.jpg,1\n{secret},0\n"
                      "link.jpg,1\n")
    rows = scan(images, labels).index.set_index("image_id")
    assert rows.loc["ok.jpg", "readable"]
    assert rows.loc["gone.jpg", "error"] == "missing file"
    for name in ("../secret.jpg", str(secret), "link.jpg"):
        assert rows.loc[name, "error"] == "outside images root"
        assert rows.loc[name, "sha256"] == ""  # never read


def test_symlinks_out_of_an_imagefolder_tree_are_never_opened(tmp_path):
    tree = tmp_path / "tree"
    (tree / "cmd").mkdir(parents=True)
    photo(0).save(tree / "cmd" / "ok.jpg")
    outside = tmp_path / "outside"
    outside.mkdir()
    photo(1).save(outside / "secret.jpg")
    os.symlink(outside / "secret.jpg", tree / "cmd" / "link.jpg")
    os.symlink(outside, tree / "linked_class")  # a symlinked folder is not walked
    rows = scan(tree).index.set_index("image_id")
    assert sorted(rows.index) == ["cmd/link.jpg", "cmd/ok.jpg"]
    assert rows.loc["cmd/ok.jpg", "readable"]
    assert rows.loc["cmd/link.jpg", "error"] == "outside images root"
    assert rows.loc["cmd/link.jpg", "sha256"] == ""


def test_ids_without_extension_nested_folders_and_unlisted_files(tmp_path):
    images = tmp_path / "images"
    (images / "sub" / "deeper").mkdir(parents=True)
    photo(0).save(images / "100.jpg")
    photo(1).save(images / "sub" / "deeper" / "200.png")
    photo(2).save(images / "extra.jpg")
    (images / "readme.txt").write_text("not an image file by extension")
    labels = tmp_path / "train.csv"
    labels.write_text("image_id,label\n100,3\nsub/deeper/200,7\n")
    index = scan(images, labels).index
    assert index["image_id"].tolist() == ["100", "sub/deeper/200", "extra.jpg"]
    assert index["path"].tolist() == ["100.jpg", "sub/deeper/200.png", "extra.jpg"]
    assert index["label"].tolist() == [3, 7, ""]
    assert index["readable"].all()


def test_index_round_trips_with_label_types(tmp_path):
    images = tmp_path / "images"
    for cls in ("cat", "dog"):
        (images / cls).mkdir(parents=True)
        photo(len(cls)).save(images / cls / f"{cls}1.jpg")
    photo(9).save(images / "loose.jpg")
    scan(images)
    index = read_index(tmp_path / "work")
    assert index.set_index("image_id")["label"].to_dict() == {
        "cat/cat1.jpg": "cat", "dog/dog1.jpg": "dog", "loose.jpg": None}
    assert index["width"].dtype == "Int64"


def test_rescan_reuses_result_until_inputs_change(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        photo(i).save(images / f"{i}.jpg")
    work = tmp_path / "work"
    assert not scan(images, workdir=work).reused
    assert scan(images, workdir=work).reused
    assert not scan(images, workdir=work, force=True).reused
    photo(7).save(images / "3.jpg")
    again = scan(images, workdir=work)
    assert not again.reused and len(again.index) == 4
    assert not scan(images, workdir=work, hash_methods=("phash", "dhash")).reused
    assert list(read_hashes(work).columns) == ["image_id", "phash", "dhash"]


def test_scan_never_modifies_images(tmp_path):
    write_readable(tmp_path / "images")
    write_unreadable(tmp_path / "images")
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in
              (tmp_path / "images").iterdir()}
    scan(tmp_path / "images", workers=2)
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in
             (tmp_path / "images").iterdir()}
    assert before == after


def test_parallel_and_serial_scans_agree(small_demo, tmp_path):
    images = small_demo.images
    serial = scan_dataset(load_dataset(images, small_demo.labels), tmp_path / "a", workers=1)
    parallel = scan_dataset(load_dataset(images, small_demo.labels), tmp_path / "b", workers=2)
    pd.testing.assert_frame_equal(serial.index, parallel.index)
    assert (serial.thumbs == parallel.thumbs).all()
    assert serial.summary["unreadable"] == 2


def test_interrupted_scan_leaves_no_partial_files(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(5):
        photo(i).save(images / f"{i}.jpg")

    def stop(done, total, description=""):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scan(images, workdir=tmp_path / "work", progress=stop, workers=1)
    assert not (tmp_path / "work" / "index.csv").exists()
    leftovers = [p for p in (tmp_path / "work").rglob("*")] if (tmp_path / "work").exists() else []
    assert leftovers == []


def test_phash_gives_imagehash_bits_and_leaves_ties_to_it(monkeypatch):
    """The scan's phash (8x8 low frequencies only) is imagehash's phash, bit for bit: on
    photos, noise, stripes and flat images (whose near-ties go to imagehash itself)."""
    import imagehash
    import numpy as np
    from PIL import Image

    from labelclean.scan import hashing

    rng = np.random.default_rng(3)
    ramp = np.add.outer(np.arange(48), 2 * np.arange(64)).astype(np.uint8)
    images = [photo(3, (160, 120)), photo(4, (45, 60)).convert("L"), Image.fromarray(ramp),
              Image.fromarray(rng.integers(0, 256, (50, 70), dtype=np.uint8)),
              Image.fromarray(np.tile(rng.integers(0, 256, (1, 40), dtype=np.uint8), (30, 1))),
              Image.new("L", (64, 48), 128), Image.new("RGB", (9, 9), (250, 20, 20))]
    for img in images:
        want = imagehash.phash(img).hash
        assert np.array_equal(np.asarray(hashing.HASH_METHODS["phash"](img), bool), want)
    calls = []
    library = hashing._PHASH_LIBRARY
    monkeypatch.setattr(hashing, "_PHASH_LIBRARY", lambda img: calls.append(1) or library(img))
    hashing.hash_hex("phash", Image.new("L", (64, 48), 128))
    hashing.hash_hex("phash", images[0])
    assert calls == [1]  # the flat image only


def _blas_threads(_task) -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_scan_work_runs_numpy_blas_on_one_thread_in_every_worker():
    """The scan's small per-file matrix products run on one BLAS thread, in this process
    and in the forked workers, and the limit is lifted afterwards."""
    import numpy as np  # noqa: F401  (loads the BLAS the limit applies to)

    from labelclean.backends.local import one_blas_thread, pool_map

    before = _blas_threads(None)
    with one_blas_thread():
        assert set(_blas_threads(None)) <= {1}
        seen = {n for found in pool_map(_blas_threads, list(range(80)), 2) for n in found}
        assert seen <= {1}
    assert _blas_threads(None) == before
