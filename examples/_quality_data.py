"""A benchmark folder for the image-quality checks: real photo crops, each kind planted.

The photos are those shipped inside pip packages (scikit-learn's sample images,
matplotlib's ``grace_hopper.jpg``, and scikit-image's colour photos when a folder of them is
given). Plain images are random crops (240-400 pixels a side, aspect 3:4 to 4:3, JPEG
quality 60-95, so JPEG noise is part of "plain"); each planted kind is made from a fresh
crop at several strengths, the weakest of them borderline:

==================  ===========================================================
kind                strengths
==================  ===========================================================
dark                exposure -3, -4, -5 stops from a metered one (18% grey mean)
light               exposure +1.5, +2, +3 stops from a metered one (clipped)
blurry              Gaussian sigma 0.8%, 1.1%, 1.6% of the short side; disk 1.2%
low_information     contrast x0.03, x0.06, x0.10 about a mid-grey mean; a flat colour
grayscale           greyscale JPEG; RGB JPEG and PNG with equal channels; saturation 3%
odd_aspect_ratio    crops of aspect 2.2, 3, 4 (either way round)
odd_size            whole crops shrunk to 128, 100, 80, 60 pixels on the short side
==================  ===========================================================

``truth.csv`` (beside the ``images`` folder) lists ``file, kind, strength`` (``kind``
"plain" for plain photos).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

KINDS = ("dark", "light", "blurry", "low_information", "grayscale", "odd_aspect_ratio",
         "odd_size")
#: scikit-image's colour photographs (its data folder), used when it is given
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png",
                  "rocket.jpg", "ihc.png")


def source_photos(skimage_data: Path | None = None) -> list[np.ndarray]:
    """The RGB photographs the crops come from, as (H, W, 3) uint8 arrays."""
    import matplotlib
    from sklearn.datasets import load_sample_images

    photos = [np.asarray(p) for p in load_sample_images().images]
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photos.append(np.asarray(Image.open(hopper).convert("RGB")))
    if skimage_data is not None:
        photos += [np.asarray(Image.open(skimage_data / name).convert("RGB"))
                   for name in SKIMAGE_PHOTOS if (skimage_data / name).exists()]
    return photos


def _crop(rng: np.random.Generator, photo: np.ndarray, aspect: float | None = None,
          short: int | None = None) -> Image.Image:
    h, w = photo.shape[:2]
    aspect = aspect if aspect is not None else float(np.exp(rng.uniform(np.log(0.75),
                                                                        np.log(4 / 3))))
    short = short or int(rng.integers(240, 401))
    cw, ch = (int(short * aspect), short) if aspect >= 1 else (short, int(short / aspect))
    scale = min(1.0, w / cw, h / ch)
    cw, ch = max(8, int(cw * scale)), max(8, int(ch * scale))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = Image.fromarray(photo[y:y + ch, x:x + cw])
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else img


def _linear(img: Image.Image) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64) / 255.0
    return np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)


def _srgb(lin: np.ndarray) -> Image.Image:
    lin = np.clip(lin, 0, 1)
    a = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return Image.fromarray(np.round(a * 255).astype(np.uint8))


def exposure(img: Image.Image, stops: float) -> Image.Image:
    """``img`` exposed ``stops`` over (or under) a metered exposure: in linear light, scaled
    so its mean is 18% grey, then by ``2 ** stops``, clipped."""
    lin = _linear(img)
    return _srgb(lin * (0.18 / max(float(lin.mean()), 1e-4)) * 2.0 ** stops)


def low_contrast(rng: np.random.Generator, img: Image.Image, factor: float) -> Image.Image:
    """``img``'s contrast times ``factor`` about a mid-grey mean (110-200: a nearly blank
    image, not also a dark or a light one) plus a little noise."""
    a = np.asarray(img, dtype=np.float64)
    mean = a.mean(axis=(0, 1))
    out = mean - mean.mean() + rng.uniform(110, 200) + (a - mean) * factor
    out += rng.normal(0, 1.0, a.shape)
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))


def flat_colour(rng: np.random.Generator, img: Image.Image) -> Image.Image:
    colour = rng.integers(110, 201) + rng.integers(-20, 21, 3)
    a = np.broadcast_to(colour, (img.height, img.width, 3)) + rng.normal(0, 1.5, (
        img.height, img.width, 3))
    return Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8))


def desaturate(img: Image.Image, keep: float) -> Image.Image:
    a = np.asarray(img, dtype=np.float64)
    grey = a @ np.array([0.299, 0.587, 0.114])
    out = grey[..., None] + (a - grey[..., None]) * keep
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))


def _disk_blur(img: Image.Image, radius: float) -> Image.Image:
    r = max(1, int(round(radius)))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    kernel = (xx ** 2 + yy ** 2 <= r * r).astype(np.float64)
    size = 2 * r + 1
    if size > 5:  # PIL kernels are at most 5x5: a box of the same area instead
        return img.filter(ImageFilter.BoxBlur(r * 0.8))
    return img.filter(ImageFilter.Kernel((size, size), kernel.ravel().tolist(),
                                         scale=kernel.sum()))


def planted(rng: np.random.Generator, photo: np.ndarray, kind: str, strength: int
            ) -> tuple[Image.Image, str]:
    """One image of ``kind`` at strength 0 (borderline) .. 3, and a label for it."""
    if kind == "odd_aspect_ratio":
        aspect = (2.2, 3.0, 4.0, 3.0)[strength]
        aspect = aspect if rng.random() < 0.5 else 1 / aspect
        return _crop(rng, photo, aspect=aspect, short=int(rng.integers(110, 180))), \
            f"aspect {max(aspect, 1 / aspect):.1f}"
    img = _crop(rng, photo)
    if kind == "dark":
        stops = (-3.0, -4.0, -5.0, -4.0)[strength]
        return exposure(img, stops), f"{stops:+g} stops"
    if kind == "light":  # (strength 3 repeats a middle strength)
        stops = (1.5, 2.0, 3.0, 2.5)[strength]
        return exposure(img, stops), f"{stops:+g} stops"
    if kind == "blurry":
        short = min(img.size)
        if strength == 3:
            return _disk_blur(img, 0.012 * short), "disk 1.2%"
        share = (0.008, 0.011, 0.016)[strength]
        return img.filter(ImageFilter.GaussianBlur(share * short)), f"gauss {share:.1%}"
    if kind == "low_information":
        if strength == 3:
            return flat_colour(rng, img), "flat colour"
        factor = (0.10, 0.06, 0.03)[strength]
        return low_contrast(rng, img, factor), f"contrast x{factor:g}"
    if kind == "grayscale":
        if strength == 0:
            return desaturate(img, 0.03), "saturation 3%"
        if strength == 1:
            return img.convert("L"), "L mode"
        return img.convert("L").convert("RGB"), "RGB equal channels"
    if kind == "odd_size":
        short = (128, 100, 80, 60)[strength]
        scale = short / min(img.size)
        return img.resize((max(8, round(img.width * scale)), max(8, round(img.height * scale))),
                          Image.Resampling.LANCZOS), f"short side {short}"
    raise ValueError(kind)


def make_quality_folder(out: Path, *, plain: int = 400, per_kind: int = 40, seed: int = 0,
                        skimage_data: Path | None = None) -> list[dict]:
    """Write the benchmark images to ``out/images`` and ``out/truth.csv``; return the truth rows."""
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = source_photos(skimage_data)
    rows = []
    for i in range(plain):
        img = _crop(rng, photos[i % len(photos)])
        name = f"plain_{i:04d}.jpg"
        img.save(images / name, quality=int(rng.integers(60, 96)))
        rows.append({"file": name, "kind": "plain", "strength": "plain"})
    for kind in KINDS:
        for i in range(per_kind):
            img, strength = planted(rng, photos[(i * 7 + 3) % len(photos)], kind, i % 4)
            png = kind == "grayscale" and i % 8 == 2
            name = f"{kind}_{i:03d}." + ("png" if png else "jpg")
            img.save(images / name, **({} if png else {"quality": int(rng.integers(70, 96))}))
            rows.append({"file": name, "kind": kind, "strength": strength})
    with open(out / "truth.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["file", "kind", "strength"])
        writer.writeheader()
        writer.writerows(rows)
    return rows
