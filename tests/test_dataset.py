"""Dataset intake: labels files, ImageFolder trees, unlabeled folders, and their errors."""

from __future__ import annotations

import pytest

from labelclean.errors import ConfigError, LabelsFileError
from labelclean.io.dataset import load_dataset, parse_labels, sort_classes

from .hostile import photo


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        photo(len(name)).save(root / name)
    return root


def write(tmp_path, text, name="train.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_labels_keep_their_type_and_class_order():
    assert parse_labels(["3", "10", "2", ""]) == [3, 10, 2, None]
    assert sort_classes([3, 10, 2, None]) == [2, 3, 10]
    assert parse_labels(["03", "1"]) == ["03", "1"]  # not plain ints: stay strings
    assert sort_classes(["cbb", "cmd", "healthy"]) == ["cbb", "cmd", "healthy"]


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiters_are_detected(tmp_path, images, sep):
    labels = write(tmp_path, f"image_id{sep}label\na.jpg{sep}1\nb.jpg{sep}0\n")
    ds = load_dataset(images, labels)
    assert [r.label for r in ds.records[:2]] == [1, 0]
    assert ds.classes == [0, 1]


def test_path_column_and_custom_columns(tmp_path, images):
    labels = write(tmp_path, "name,disease,file\nx,healthy,a.jpg\ny,cmd,b.jpg\n")
    ds = load_dataset(images, labels, id_col="name", label_col="disease", path_col="file")
    assert [(r.image_id, r.path, r.label) for r in ds.records[:2]] == [
        ("x", "a.jpg", "healthy"), ("y", "b.jpg", "cmd")]


def test_imagefolder_and_unlabeled(tmp_path):
    root = tmp_path / "tree"
    for cls in ("healthy", "cmd"):
        (root / cls / "nested").mkdir(parents=True)
        photo(1).save(root / cls / "nested" / "x.jpg")
    ds = load_dataset(root)
    assert ds.kind == "imagefolder" and ds.classes == ["cmd", "healthy"]
    assert [r.label for r in ds.records] == ["cmd", "healthy"]
    flat = tmp_path / "flat"
    flat.mkdir()
    photo(2).save(flat / "x.png")
    ds = load_dataset(flat)
    assert ds.kind == "unlabeled" and not ds.has_labels


@pytest.mark.parametrize("text, message", [
    ("", "is empty; expected a header line such as 'image_id,label'"),
    ("file,label\na.jpg,1\n",
     "has no column 'image_id' (columns: file, label); pass `id_col` NAME"),
    ("image_id,class\na.jpg,1\n", "has no column 'label' (columns: image_id, class); "
                                  "pass `label_col` NAME"),
    ("image_id,label\na.jpg,1\nb.jpg,2\na.jpg,3\n",
     "image id 'a.jpg' appears 2 times (rows 2, 4); each image must have exactly one row"),
    ("image_id label\na.jpg 1\n", "cannot detect the delimiter"),
    ("image_id,label\n", "has a header but no rows"),
])
def test_broken_labels_files(tmp_path, images, text, message):
    labels = write(tmp_path, text)
    with pytest.raises(LabelsFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(images, labels)


def test_missing_inputs(tmp_path, images):
    with pytest.raises(LabelsFileError, match="does not exist; pass `labels` FILE"):
        load_dataset(images, tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="images folder .* does not exist; pass `images` DIR"):
        load_dataset(tmp_path / "nowhere")


def test_trailing_delimiter_on_every_row_keeps_the_columns(tmp_path, images):
    labels = write(tmp_path, "image_id,label\na.jpg,1,\nb.jpg,0,\nc.jpg,1,\n")
    ds = load_dataset(images, labels)
    assert [(r.image_id, r.label) for r in ds.records] == [("a.jpg", 1), ("b.jpg", 0),
                                                          ("c.jpg", 1)]


def test_duplicate_rows_are_numbered_by_position_with_ragged_rows(tmp_path, images):
    labels = write(tmp_path, "image_id,label\nb.jpg,0,\na.jpg,1\na.jpg,3\n")
    with pytest.raises(LabelsFileError, match=r"'a.jpg' appears 2 times \(rows 3, 4\)"):
        load_dataset(images, labels)


def test_numeric_class_folders_are_int_labels_like_a_labels_file(tmp_path):
    root = tmp_path / "tree"
    for cls in ("0", "2", "10"):
        (root / cls).mkdir(parents=True)
        photo(int(cls)).save(root / cls / "x.jpg")
    ds = load_dataset(root)
    assert ds.classes == [0, 2, 10]
    assert [r.label for r in ds.records] == [0, 10, 2]  # files in path order
