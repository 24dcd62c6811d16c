"""The demo dataset: Cassava-style ``train_images/`` + ``labels.csv`` built offline.

The images are scikit-learn's bundled handwritten digits, upscaled and coloured like small
photos (each with its own background tint and sensor noise). Known problems are injected
and written to ``truth.csv`` so every stage can be scored:

* label noise: a fraction of images carry a wrong label;
* exact duplicates: byte copies, and copies with the same pixels in another format (PNG);
* near duplicates: resized, re-compressed, brightened and slightly shifted copies;
* conflicting labels: some copies carry a different label than their original;
* unreadable files: an empty file and a truncated JPEG, listed in ``labels.csv``.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance

from labelclean.io.workdir import write_csv, write_json

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NEAR_KINDS = ("resize", "jpeg", "brightness", "shift")
EXACT_KINDS = ("exact-bytes", "exact-pixels")


@dataclass
class Demo:
    """Paths of a generated demo dataset."""

    root: Path
    images: Path
    labels: Path
    truth: Path
    class_names: Path


def _render_digit(digit: np.ndarray, size: int, rng: np.random.Generator) -> Image.Image:
    """An (8, 8) digit in [0, 16] as a ``size``-square RGB 'photo'."""
    ink = Image.fromarray((digit / 16.0 * 255).astype(np.uint8), mode="L")
    ink = np.asarray(ink.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32) / 255
    background = rng.uniform([70, 60, 20], [150, 120, 60])  # soil
    foreground = rng.uniform([40, 140, 30], [110, 220, 90])  # leaf
    yy, xx = np.mgrid[0:size, 0:size] / size
    shade = 1 + 0.25 * (rng.uniform(-1, 1) * yy + rng.uniform(-1, 1) * xx)
    img = (1 - ink[..., None]) * background + ink[..., None] * foreground
    img = img * shade[..., None] + rng.normal(0, 7, (size, size, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="RGB")


def _jpeg_bytes(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _near_copy(original: bytes, kind: str, rng: np.random.Generator) -> bytes:
    img = Image.open(io.BytesIO(original)).convert("RGB")
    if kind == "resize":
        side = int(round(img.width * rng.choice([0.75, 1.5])))
        return _jpeg_bytes(img.resize((side, side), Image.Resampling.BICUBIC), 90)
    if kind == "jpeg":
        return _jpeg_bytes(img, int(rng.integers(25, 45)))
    if kind == "brightness":
        return _jpeg_bytes(ImageEnhance.Brightness(img).enhance(rng.choice([0.8, 1.2])), 90)
    if kind == "shift":
        dx, dy = (int(v) for v in rng.choice([-2, -1, 1, 2], size=2))
        arr = np.roll(np.asarray(img), (dy, dx), axis=(0, 1))
        return _jpeg_bytes(Image.fromarray(arr), 90)
    raise ValueError(kind)


def make_demo(out: str | Path, *, n_images: int | None = None, noise_rate: float = 0.1,
              n_exact: int = 60, n_near: int = 120, conflict_rate: float = 0.3,
              image_size: int = 64, corrupt: bool = True, seed: int = 0,
              overwrite: bool = False) -> Demo:
    """Write the demo dataset to ``out`` and return its paths.

    ``n_images`` originals (default: all 1,797 digits) are written as JPEGs; ``noise_rate``
    of them get a wrong label; ``n_exact`` exact and ``n_near`` near copies are added, and
    ``conflict_rate`` of the copies carry a label different from their original's.
    """
    from sklearn.datasets import load_digits

    out = Path(out)
    images = out / "train_images"
    if out.exists() and overwrite:
        shutil.rmtree(out)
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    digits = load_digits()
    order = rng.permutation(len(digits.target))[: n_images or len(digits.target)]
    if n_exact + n_near > len(order):
        raise ValueError(f"{n_exact} exact + {n_near} near copies need at least as many "
                         f"originals, but n_images is {len(order)}; pass fewer copies")
    ids = [f"{v}.jpg" for v in rng.choice(9_000_000_000, size=len(order) + n_exact + n_near
                                          + 2, replace=False) + 1_000_000_000]
    originals, rows = _write_originals(images, ids, order, digits, image_size, noise_rate, rng)
    next_id = iter(ids[len(order):])
    rows += _write_copies(images, originals, next_id, n_exact, n_near, conflict_rate, rng)
    if corrupt:
        rows += _write_unreadable(images, originals[0][1], next_id, rng)
    return _write_tables(out, images, [rows[i] for i in rng.permutation(len(rows))])


def _wrong(label: int, rng: np.random.Generator) -> int:
    return int(rng.choice([c for c in range(10) if c != label]))


def _truth_row(image_id: str, true: int, given: int, duplicate_of: str = "",
               kind: str = "", unreadable: bool = False) -> dict:
    return dict(image_id=image_id, true_label=true, given_label=given,
                duplicate_of=duplicate_of, duplicate_kind=kind, unreadable=unreadable)


def _write_originals(images: Path, ids: list[str], order: np.ndarray, digits, image_size: int,
                     noise_rate: float, rng: np.random.Generator):
    """The original digits as JPEGs: ``([(id, bytes, true, given)], truth rows)``."""
    originals: list[tuple[str, bytes, int, int]] = []
    rows: list[dict] = []
    for image_id, idx in zip(ids, order):
        true = int(digits.target[idx])
        data = _jpeg_bytes(_render_digit(digits.images[idx], image_size, rng), 92)
        (images / image_id).write_bytes(data)
        given = _wrong(true, rng) if rng.random() < noise_rate else true
        originals.append((image_id, data, true, given))
        rows.append(_truth_row(image_id, true, given))
    return originals, rows


def _write_copies(images: Path, originals: list, next_id, n_exact: int, n_near: int,
                  conflict_rate: float, rng: np.random.Generator) -> list[dict]:
    """Exact and near copies of randomly chosen originals; some with another label."""
    rows = []
    sources = rng.choice(len(originals), size=n_exact + n_near, replace=False)
    kinds = [EXACT_KINDS[i % 2] for i in range(n_exact)] + [
        NEAR_KINDS[i % len(NEAR_KINDS)] for i in range(n_near)]
    for src, kind in zip(sources, kinds):
        src_id, data, true, src_given = originals[src]
        image_id = next(next_id)
        if kind == "exact-bytes":
            copy = data
        elif kind == "exact-pixels":
            buf = io.BytesIO()
            Image.open(io.BytesIO(data)).save(buf, format="PNG")
            copy, image_id = buf.getvalue(), image_id.replace(".jpg", ".png")
        else:
            copy = _near_copy(data, kind, rng)
        (images / image_id).write_bytes(copy)
        given = _wrong(src_given, rng) if rng.random() < conflict_rate else src_given
        rows.append(_truth_row(image_id, true, given, src_id, kind))
    return rows


def _write_unreadable(images: Path, data: bytes, next_id, rng: np.random.Generator
                      ) -> list[dict]:
    """An empty file and a truncated JPEG."""
    empty_id, truncated_id = next(next_id), next(next_id)
    (images / empty_id).write_bytes(b"")
    (images / truncated_id).write_bytes(data[: len(data) // 2])
    rows = []
    for image_id in (empty_id, truncated_id):
        label = int(rng.integers(0, 10))
        rows.append(_truth_row(image_id, label, label, unreadable=True))
    return rows


def _write_tables(out: Path, images: Path, rows: list[dict]) -> Demo:
    """``labels.csv``, ``truth.csv`` and ``classes.json`` of the demo."""
    truth = pd.DataFrame(rows)
    truth["label_noise"] = truth["true_label"] != truth["given_label"]
    labels = truth[["image_id", "given_label"]].rename(columns={"given_label": "label"})
    write_csv(labels, out / "labels.csv")
    write_csv(truth[["image_id", "true_label", "given_label", "label_noise", "duplicate_of",
                     "duplicate_kind", "unreadable"]], out / "truth.csv")
    write_json({str(i): name for i, name in enumerate(DIGIT_NAMES)}, out / "classes.json")
    return Demo(root=out, images=images, labels=out / "labels.csv", truth=out / "truth.csv",
                class_names=out / "classes.json")


def synthetic_photo(rng: np.random.Generator, size: tuple[int, int] = (512, 384)) -> Image.Image:
    """A photo-like RGB image: smooth random shapes and shading plus sensor noise."""
    width, height = size
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse, "RGB").resize(size, Image.Resampling.BICUBIC),
                      dtype=np.float32)
    detail = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    detail = np.asarray(Image.fromarray(detail, "RGB").resize(size, Image.Resampling.BILINEAR),
                        dtype=np.float32)
    img = 0.75 * base + 0.25 * detail + rng.normal(0, 4, (height, width, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def make_photo_folder(out: str | Path, n: int, *, size: tuple[int, int] = (512, 384),
                      quality: int = 90, seed: int = 0) -> list[Path]:
    """Write ``n`` photo-sized synthetic JPEGs to ``out`` (for benchmarks); returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = out / f"photo_{i:06d}.jpg"
        if not path.exists():
            synthetic_photo(rng, size).save(path, format="JPEG", quality=quality)
        paths.append(path)
    return paths
