"""Images on object storage: URIs read through pyarrow filesystems.

``file://`` URIs take the code path of ``s3://`` and ``gs://`` (``FileSystem.from_uri``,
then ``open_input_stream``), so these tests need no network and no bucket.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelclean.io.dataset import list_image_files, load_dataset, read_listing
from labelclean.scan.stage import scan_dataset
from tests.test_ray import SCAN_FILES, tiny_set


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return tiny_set(tmp_path_factory.mktemp("objstore") / "images")


def uri(path: Path) -> str:
    return path.resolve().as_uri()


def _listings(images: Path, folder: Path) -> tuple[Path, Path, Path, Path]:
    """(plain listing, URI listing, plain labels file, URI labels file) of ``images``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = list_image_files(images)
    uris = [uri(images / f) for f in files]
    pq.write_table(pa.table({"path": files}), folder / "plain.parquet")
    pq.write_table(pa.table({"path": uris}), folder / "uris.parquet")
    labels = ["cat" if f.startswith("cat/") else "dog" for f in files]
    ids = [f.rsplit("/", 1)[-1] for f in files]
    pd.DataFrame({"image_id": ids, "label": labels, "path": files}).to_csv(
        folder / "plain.csv", index=False)
    pd.DataFrame({"image_id": ids, "label": labels, "path": uris}).to_csv(
        folder / "uris.csv", index=False)
    return folder / "plain.parquet", folder / "uris.parquet", folder / "plain.csv", \
        folder / "uris.csv"


def _scan_both(images: Path, tmp_path: Path, **kwargs) -> tuple[Path, Path]:
    plain_list, uri_list, plain_csv, uri_csv = _listings(images, tmp_path)
    plain = load_dataset(images, plain_csv, path_col="path", files=read_listing(plain_list))
    remote = load_dataset(images, uri_csv, path_col="path", files=read_listing(uri_list))
    scan_dataset(plain, tmp_path / "plain", workers=1)
    scan_dataset(remote, tmp_path / "uri", **kwargs)
    return tmp_path / "plain", tmp_path / "uri"


def assert_same_but_paths(plain: Path, remote: Path, images: Path) -> None:
    """The two scans' files are byte-identical but for index.csv's paths, which are the
    plain run's paths as URIs."""
    for name in SCAN_FILES:
        if name != "index.csv":
            assert filecmp.cmp(plain / name, remote / name, shallow=False), name
    a = (plain / "index.csv").read_text().splitlines()
    b = (remote / "index.csv").read_text().splitlines()
    assert len(a) == len(b) > 40
    for line_a, line_b in zip(a[1:], b[1:]):
        rel = line_a.split(",")[1]
        assert line_b == line_a.replace(f",{rel},", f",{uri(images / rel)},", 1)


def test_a_listing_and_labels_file_of_file_uris_scan_like_plain_paths(images, tmp_path):
    plain, remote = _scan_both(images, tmp_path, workers=1)
    index = pd.read_csv(remote / "index.csv")
    assert index["path"].str.startswith("file:///").all()
    assert (~index["readable"]).sum() == 2 and index["readable"].sum() == 40
    assert_same_but_paths(plain, remote, images)


def test_an_images_root_uri_is_listed_and_scans_like_the_folder(images, tmp_path):
    local = load_dataset(images)
    remote = load_dataset(uri(images))
    assert [r.path for r in remote.records] == [r.path for r in local.records]
    assert remote.kind == "imagefolder" and remote.classes == local.classes
    scan_dataset(local, tmp_path / "local", workers=1)
    scan_dataset(remote, tmp_path / "uri", workers=1)
    for name in SCAN_FILES:  # index paths are relative to the root: all the same
        assert filecmp.cmp(tmp_path / "local" / name, tmp_path / "uri" / name,
                           shallow=False), name
    again = scan_dataset(load_dataset(uri(images)), tmp_path / "uri", workers=1)
    assert again.reused  # the objects' sizes and times are the fingerprint


def test_a_missing_object_or_folder_uri_is_an_error_row(images, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = uri(images / list_image_files(images)[1])
    named = [good, uri(images / "cat" / "gone.jpg"), uri(images / "cat") + "/"]
    pq.write_table(pa.table({"path": named}), tmp_path / "l.parquet")
    dataset = load_dataset(images, files=read_listing(tmp_path / "l.parquet"))
    result = scan_dataset(dataset, tmp_path / "w", workers=1)
    errors = dict(zip(result.index["path"], result.index["error"]))
    assert errors[good] == "" and errors[uri(images / "cat" / "gone.jpg")] == "missing file"
    assert errors[uri(images / "cat") + "/"].startswith("cannot read file: ")
    assert result.summary["missing"] == 1 and result.summary["readable"] == 1


def test_a_missing_images_root_uri_is_a_config_error(tmp_path):
    from labelclean.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset(uri(tmp_path / "nowhere"))


def test_every_reader_reads_uris_like_paths(images):
    from labelclean.dedupe.photo import _detail_task
    from labelclean.dedupe.verify import pixel_digest
    from labelclean.io.imageio import UnreadableImage, load_rgb
    from labelclean.io.locations import image_location

    rel = list_image_files(images)[3]
    where = image_location(uri(images), rel)
    assert where == uri(images / rel)
    assert np.array_equal(np.asarray(load_rgb(where, max_side=16)),
                          np.asarray(load_rgb(images / rel, max_side=16)))
    assert np.array_equal(_detail_task((where, 8)), _detail_task((str(images / rel), 8)))
    assert pixel_digest(where) == pixel_digest(images / rel) is not None
    with pytest.raises(UnreadableImage, match="^missing file$"):
        load_rgb(image_location(uri(images), "cat/gone.jpg"))


def test_the_filesystem_is_resolved_once_per_authority(images, monkeypatch):
    from labelclean.io import locations

    monkeypatch.setattr(locations, "_FILESYSTEMS", {})
    calls: list[str] = []
    real = locations._from_uri

    def counting(text):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(locations, "_from_uri", counting)
    files = list_image_files(images)[:5]
    blobs = [locations.read_image_bytes(uri(images / f)) for f in files]
    assert blobs == [(images / f).read_bytes() for f in files]
    assert calls == ["file:///"]  # the authority, never an object's path


def test_uris_cross_the_cli_unmangled(images, cli):
    result = cli("scan", "--images", uri(images), "--workdir", "w")
    assert result.exit_code == 0, result.output
    index = pd.read_csv(Path("w") / "index.csv")
    assert len(index) == len(list_image_files(images)) and index["readable"].sum() == 40


@pytest.mark.ray
def test_ray_scan_of_a_file_uri_listing_writes_the_local_files(ray_session, images,
                                                              tmp_path):
    plain, remote = _scan_both(images, tmp_path, backend="ray")
    assert_same_but_paths(plain, remote, images)


def test_local_locations_are_the_paths_pathlib_joins():
    """The quick join of a folder and a relative path gives pathlib's text for every
    awkward root and path (dot parts, doubled and trailing slashes, spaces, accents)."""
    import itertools

    from labelclean.io.locations import image_location

    roots = ["/", "/data", "/data/", "rel", "./rel", ".", "", "//net/x", "/x/.", "a/./b"]
    paths = ["a.jpg", "x y/é.png", "./a.jpg", "a//b.jpg", "a/./b.jpg", "../a.jpg", "a/",
             "/abs/a.jpg", ".hidden", "a/.", "sub\\win.jpg"]
    for root, path in itertools.product(roots, paths):
        for given in (root, Path(root)):
            assert image_location(given, path) == str(Path(root) / path), (root, path)
