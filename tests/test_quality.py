"""Image-quality checks in the scan's decode, quality.csv, and the outlier score."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from labelclean.io.dataset import load_dataset
from labelclean.io.qualityfile import QUALITY_COLUMNS, read_quality
from labelclean.scan import quality as Q
from labelclean.scan.stage import scan_dataset, scan_file


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from sklearn.datasets import load_sample_images

    return load_sample_images().images[0]  # china.jpg, 427 x 640


def crop(photo: np.ndarray, x: int, y: int, w: int = 320, h: int = 240) -> Image.Image:
    return Image.fromarray(photo[y:y + h, x:x + w])


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def issues_of(tmp_path, images: dict[str, Image.Image]) -> dict[str, set[str]]:
    folder = tmp_path / "images"
    folder.mkdir()
    for name, img in images.items():
        img.save(folder / name, **({"quality": 90} if name.endswith(".jpg") else {}))
    result = scan_dataset(load_dataset(folder), tmp_path / "work", workers=1)
    return {i: set(filter(None, s.split(";")))
            for i, s in zip(result.quality["image_id"], result.quality["issues"])}


def planted_set(photo: np.ndarray) -> dict[str, Image.Image]:
    rng = np.random.default_rng(0)
    plain = {f"plain_{i}.jpg": crop(photo, int(x), int(y))
             for i, (x, y) in enumerate(zip(rng.integers(0, 300, 12), rng.integers(0, 180, 12)))}
    base = crop(photo, 100, 100)
    arr = np.asarray(base, dtype=np.float64)
    return {**plain,
            "dark.jpg": Image.fromarray((arr * 0.12).astype(np.uint8)),
            "light.jpg": Image.fromarray(np.clip(arr * 3.0, 0, 255).astype(np.uint8)),
            "blurry.jpg": base.filter(ImageFilter.GaussianBlur(3)),
            "blank.jpg": Image.fromarray(np.clip(arr.mean() + (arr - arr.mean()) * 0.03, 0,
                                                 255).astype(np.uint8)),
            "grey_rgb.jpg": base.convert("L").convert("RGB"),
            "grey_l.png": base.convert("L"),
            "wide.jpg": crop(photo, 0, 0, 600, 150),
            "tiny.jpg": base.resize((64, 48))}


def test_each_check_finds_its_planted_image_and_spares_plain_photos(tmp_path, photo):
    found = issues_of(tmp_path, planted_set(photo))
    assert "dark" in found["dark.jpg"]
    assert "light" in found["light.jpg"]
    assert "blurry" in found["blurry.jpg"] and "blurry" not in found["plain_0.jpg"]
    assert "low_information" in found["blank.jpg"]
    assert "grayscale" in found["grey_rgb.jpg"] and "grayscale" in found["grey_l.png"]
    assert found["wide.jpg"] >= {"odd_aspect_ratio"}
    assert "odd_size" in found["tiny.jpg"]
    assert not any(found[f"plain_{i}.jpg"] for i in range(12))


def test_quality_csv_columns_scores_and_unreadable_rows(tmp_path, photo):
    folder = tmp_path / "images"
    folder.mkdir()
    crop(photo, 0, 0).save(folder / "a.jpg")
    (folder / "broken.jpg").write_bytes(b"not an image")
    scan_dataset(load_dataset(folder), tmp_path / "work", workers=1)
    table = read_quality(tmp_path / "work")
    assert list(table.columns) == QUALITY_COLUMNS
    assert QUALITY_COLUMNS[:3] == ["image_id", "issues", "dark_score"]
    row = table.set_index("image_id")
    scores = row.loc["a.jpg", [f"{c}_score" for c in Q.CHECKS]].to_numpy(float)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert row.loc["broken.jpg", [c for c in QUALITY_COLUMNS[2:]]].isna().all()
    assert np.isnan(row.loc["a.jpg", "outlier_score"])  # until noise scores outliers


def test_new_thresholds_reflag_without_rescanning(tmp_path, photo):
    folder = tmp_path / "images"
    folder.mkdir()
    img = Image.fromarray((np.asarray(crop(photo, 0, 0), float) * 0.5).astype(np.uint8))
    img.save(folder / "dim.jpg")
    crop(photo, 50, 50).save(folder / "b.jpg")
    work = tmp_path / "work"
    first = scan_dataset(load_dataset(folder), work, workers=1)
    dim = first.quality.set_index("image_id").loc["dim.jpg", "dark_score"]
    assert "dark" not in first.quality.set_index("image_id").loc["dim.jpg", "issues"]
    again = scan_dataset(load_dataset(folder), work, workers=1,
                         thresholds={"dark": min(1.0, dim + 0.01)})
    assert again.reused
    assert "dark" in read_quality(work).set_index("image_id").loc["dim.jpg", "issues"]


def test_blur_ratio_does_not_depend_on_size_or_jpeg_noise(photo):
    sharp = crop(photo, 0, 0, 640, 420)
    ratios = []
    for size, quality in (((640, 420), 95), ((320, 210), 40), ((1280, 840), 75)):
        data = jpeg(sharp.resize(size, Image.Resampling.LANCZOS), quality)
        row, _, _ = scan_file_bytes(data)
        ratios.append(row["blur_ratio"])
    blurred = jpeg(sharp.filter(ImageFilter.GaussianBlur(4)), 95)
    assert max(ratios) - min(ratios) < 0.1
    assert scan_file_bytes(blurred)[0]["blur_ratio"] < min(ratios) - 0.1


def scan_file_bytes(data: bytes, tmp=None):
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".jpg") as fh:
        fh.write(data)
        fh.flush()
        return scan_file(fh.name)


def test_hashes_stay_those_of_the_small_draft_decode(photo):
    """The working decode is larger than the hashes' draft decode; the hashes are taken at
    the draft scale they always were (within rounding)."""
    from labelclean.io.imageio import open_image
    from labelclean.scan.hashing import hamming, hash_hex

    for w, h in ((640, 420), (300, 200), (120, 90)):
        data = jpeg(crop(photo, 0, 0, 640, 420).resize((w, h)))
        img, _ = open_image(data, draft_size=(32, 32), draft_mode="L")
        _, hashes, _ = scan_file_bytes(data)
        assert hamming(hashes["phash"], hash_hex("phash", img)) <= 2


def test_shape_scores_are_relative_to_the_dataset():
    scores = Q.shape_scores(np.array([400, 400, 400, 1600, 100]),
                            np.array([300, 300, 300, 300, 75]))
    assert scores["odd_aspect_ratio_score"].round(2).tolist()[:3] == [1.0, 1.0, 1.0]
    assert scores["odd_aspect_ratio_score"][3] < 0.5 <= scores["odd_aspect_ratio_score"][4]
    assert scores["odd_size_score"][4] < 0.5 < scores["odd_size_score"][0]


def test_grayscale_is_not_flagged_in_a_grey_dataset():
    table = pd.DataFrame({f"{c}_score": np.ones(4) for c in Q.CHECKS})
    table["grayscale_score"] = [0.0, 0.0, 0.0, 1.0]
    assert not any("grayscale" in s for s in Q.reflag(table, {}))
    table["grayscale_score"] = [0.0, 1.0, 1.0, 1.0]
    assert Q.reflag(table, {})[0] == "grayscale"


def test_with_outliers_replaces_the_outlier_issue_only():
    table = pd.DataFrame({"image_id": ["a", "b"], "issues": ["dark;outlier", ""]})
    out = Q.with_outliers(table, np.array([0.9, 0.1]), np.array([False, True]))
    assert out["issues"].tolist() == ["dark", "outlier"]
    assert out["outlier_score"].tolist() == [0.9, 0.1]


def test_an_image_with_colour_contrast_but_flat_luma_is_not_blank():
    """A red shape on a green ground of the same luma has information; a flat one has not."""
    a = np.zeros((120, 160, 3), np.uint8)
    a[...] = (60, 140, 60)  # green
    a[30:90, 40:120] = (220, 80, 105)  # roughly the same luma, another colour
    shape = Image.fromarray(a)
    flat = Image.fromarray(np.full((120, 160, 3), (60, 140, 60), np.uint8))
    scores = {}
    for name, img in (("shape", shape), ("flat", flat)):
        fine = img.convert("YCbCr")
        scores[name] = Q.image_scores(pd.DataFrame([Q.measure(fine)], columns=Q.MEASURES))
    assert scores["shape"]["low_information_score"][0] >= 0.5
    assert scores["flat"]["low_information_score"][0] < 0.5


def test_no_quality_scan_skips_the_checks_and_removes_a_stale_file(tmp_path, photo):
    folder = tmp_path / "images"
    folder.mkdir()
    crop(photo, 0, 0).save(folder / "a.jpg")
    work = tmp_path / "work"
    with_checks = scan_dataset(load_dataset(folder), work, workers=1)
    assert (work / "quality.csv").exists()
    plain = scan_dataset(load_dataset(folder), work, workers=1, quality=False)
    assert not plain.reused and plain.quality is None
    assert not (work / "quality.csv").exists()
    assert plain.summary["quality"] == {}
    assert plain.hashes["phash"].tolist() == with_checks.hashes["phash"].tolist()
    row, _, _ = scan_file(str(folder / "a.jpg"), quality=False)
    assert not set(Q.MEASURES) & set(row)
