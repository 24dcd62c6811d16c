"""A photo duplicate benchmark built from the real photos that ship in pip packages.

Sources: scikit-learn's sample images (china.jpg, flower.jpg), matplotlib's sample data
(grace_hopper.jpg) and, when scikit-image is installed, its bundled photos (astronaut,
coffee, chelsea, rocket, ...). From them:

* **bases**: crops of a source scaled to photo size (384 px the longer side), at most 25 %
  overlapping any other base of the same source;
* **copies** (one per base, so every true pair is a base and its copy): brightness,
  contrast and gamma changes with clipping, JPEG re-encoding, resizes (one squeezing the
  aspect ratio to a square), shifts leaving a black border, padding, crops of 3-10 % per
  side, flips and 90-degree rotations, each at several strengths;
* **hard negatives**: other crops of the same source overlapping a base by 50-80 % (shifted
  20-50 %), crops of flat regions (sky, walls; two boxes apart) and textures (grass,
  gravel), and handwritten digits of one class drawn on the same background.

``truth.csv``: ``image_id, duplicate_of, duplicate_kind, strength`` (copies),
``negative_of, negative_kind`` (hard negatives), ``source, box`` (the photo and the box of
it an image shows, square for the flat regions; empty for the textures and digits). Bases
are drawn at random, so two images may by chance be crops of up to ~10 % a side of each
other: :func:`also_copies` finds those pairs, near copies by labelclean's definition
though nothing planted them.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance, ImageOps

#: (kind, strength label, function of (image, rng) -> image); the kind names the change.
_SKIMAGE = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry",
            "hubble_deep_field", "retina", "brick", "grass", "gravel", "moon", "coins")


def source_photos() -> dict[str, Image.Image]:
    """The real photos available here, by name (RGB)."""
    import matplotlib
    from sklearn.datasets import load_sample_images

    photos = {}
    bunch = load_sample_images()
    for name, arr in zip(bunch.filenames, bunch.images):
        photos[Path(name).stem] = Image.fromarray(arr).convert("RGB")
    grace = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photos["grace_hopper"] = Image.open(grace).convert("RGB")
    try:
        from skimage import data
    except ImportError:
        return photos
    for name in _SKIMAGE:
        arr = getattr(data, name)()
        photos[name] = Image.fromarray(arr).convert("RGB")
    return photos


def _gamma(img: Image.Image, g: float) -> Image.Image:
    lut = [int(round(255 * (v / 255) ** g)) for v in range(256)] * 3
    return img.point(lut)


def _shift(img: Image.Image, dx: int, dy: int) -> Image.Image:
    out = Image.new("RGB", img.size)
    out.paste(img, (dx, dy))
    return out


def _pad(img: Image.Image, frac: float) -> Image.Image:
    border = max(1, int(round(frac * max(img.size))))
    return ImageOps.expand(img, border=border, fill=(0, 0, 0))


def _crop(img: Image.Image, left, top, right, bottom) -> Image.Image:
    w, h = img.size
    return img.crop((int(left * w), int(top * h), w - int(right * w), h - int(bottom * h)))


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _one_side(img, rng):
    sides = [0.0, 0.0, 0.0, 0.0]
    sides[int(rng.integers(4))] = 0.10
    return _crop(img, *sides)


VARIANTS = (
    ("brightness", "x1.15", lambda im, r: ImageEnhance.Brightness(im).enhance(1.15)),
    ("brightness", "x1.30", lambda im, r: ImageEnhance.Brightness(im).enhance(1.30)),
    ("brightness", "x0.75", lambda im, r: ImageEnhance.Brightness(im).enhance(0.75)),
    ("contrast", "x1.30", lambda im, r: ImageEnhance.Contrast(im).enhance(1.3)),
    ("contrast", "x0.70", lambda im, r: ImageEnhance.Contrast(im).enhance(0.7)),
    ("gamma", "0.6", lambda im, r: _gamma(im, 0.6)),
    ("gamma", "1.5", lambda im, r: _gamma(im, 1.5)),
    ("jpeg", "q25", lambda im, r: _jpeg(im, 25)),
    ("jpeg", "q50", lambda im, r: _jpeg(im, 50)),
    ("resize", "x0.5", lambda im, r: im.resize((im.width // 2, im.height // 2),
                                               Image.Resampling.BICUBIC)),
    ("resize", "x0.75", lambda im, r: im.resize((im.width * 3 // 4, im.height * 3 // 4),
                                                Image.Resampling.LANCZOS)),
    ("resize", "x1.5", lambda im, r: im.resize((im.width * 3 // 2, im.height * 3 // 2),
                                               Image.Resampling.BICUBIC)),
    ("resize", "squeeze 300x300", lambda im, r: im.resize((300, 300), Image.Resampling.BILINEAR)),
    ("shift", "2 px", lambda im, r: _shift(im, 2, 2)),
    ("shift", "5 px", lambda im, r: _shift(im, -5, 3)),
    ("shift", "10 px", lambda im, r: _shift(im, 10, -6)),
    ("pad", "2 %", lambda im, r: _pad(im, 0.02)),
    ("pad", "5 %", lambda im, r: _pad(im, 0.05)),
    ("crop", "3 % a side", lambda im, r: _crop(im, .03, .03, .03, .03)),
    ("crop", "5 % a side", lambda im, r: _crop(im, .05, .05, .05, .05)),
    ("crop", "10 % a side", lambda im, r: _crop(im, .10, .10, .10, .10)),
    ("crop", "10 % one side", _one_side),
    ("crop", "0-10 % each side", lambda im, r: _crop(im, *r.uniform(0, 0.10, 4))),
    ("flip", "horizontal", lambda im, r: ImageOps.mirror(im)),
    ("flip", "vertical", lambda im, r: ImageOps.flip(im)),
    ("rotation", "90", lambda im, r: im.transpose(Image.Transpose.ROTATE_90)),
    ("rotation", "180", lambda im, r: im.transpose(Image.Transpose.ROTATE_180)),
    ("rotation", "270", lambda im, r: im.transpose(Image.Transpose.ROTATE_270)),
)


def photo_crop(img: Image.Image, box, side: int = 384) -> Image.Image:
    """``box`` of ``img`` at photo size (its longer side ``side`` px)."""
    crop = img.crop(box)
    scale = side / max(crop.size)
    return crop.resize((round(crop.width * scale), round(crop.height * scale)),
                       Image.Resampling.LANCZOS)


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def _boxes(size, rng, n, max_iou=0.25, tries=2000):
    """Up to ``n`` crop boxes (x0, y0, x1, y1) of a source of ``size``."""
    w, h = size
    boxes = []
    for _ in range(tries):
        if len(boxes) == n:
            break
        aspect = rng.choice([4 / 3, 3 / 4, 1.0, 3 / 2])
        side = rng.uniform(0.25, 0.5) * min(w, h)
        bw, bh = int(side * np.sqrt(aspect)), int(side / np.sqrt(aspect))
        if bw >= w or bh >= h or min(bw, bh) < 96:
            continue
        x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        box = (x0, y0, x0 + bw, y0 + bh)
        if all(_iou(box, b) <= max_iou for b in boxes):
            boxes.append(box)
    return boxes


def _shifted_box(box, size, rng):
    """A box of the same size shifted 20-50 % of its side (overlap 50-80 %), or None."""
    w, h = size
    bw, bh = box[2] - box[0], box[3] - box[1]
    for _ in range(50):
        fx, fy = rng.uniform(0.2, 0.5) * rng.choice([-1, 1]), rng.uniform(0, 0.3) * rng.choice(
            [-1, 1])
        if rng.random() < 0.5:
            fx, fy = fy, fx
        x0, y0 = box[0] + int(fx * bw), box[1] + int(fy * bh)
        if 0 <= x0 and 0 <= y0 and x0 + bw <= w and y0 + bh <= h:
            return (x0, y0, x0 + bw, y0 + bh)
    return None


def _flat_boxes(img, rng, n):
    """Boxes of the least textured regions (sky, walls) of a source, overlapping each
    other by at most 25 % (IoU)."""
    grey = np.asarray(img.convert("L"), np.float32)
    h, w = grey.shape
    side = min(w, h) // 4
    found = []
    for _ in range(300):
        x0, y0 = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
        found.append((float(grey[y0:y0 + side, x0:x0 + side].std()),
                      (x0, y0, x0 + side, y0 + side)))
    found.sort()
    chosen: list = []  # apart: two boxes of one sky a few pixels apart are a shifted copy
    for _, box in found:
        if len(chosen) < n and all(_iou(box, other) <= 0.25 for other in chosen):
            chosen.append(box)
    return chosen


def _digits(rng, n):
    from sklearn.datasets import load_digits

    from labelclean.demo.data import _render_digit

    digits = load_digits()
    threes = np.flatnonzero(digits.target == 3)[:n]
    seed = int(rng.integers(1 << 30))
    return [_render_digit(digits.images[k], 256, np.random.default_rng(seed)) for k in threes]


def make_photo_set(out: Path, *, copies_per_variant: int = 10, hard_negatives: int = 80,
                   seed: int = 0) -> pd.DataFrame:
    """Write the benchmark's JPEGs into ``out`` and return its truth table."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = source_photos()
    bases, rows = [], []
    for name, img in photos.items():
        for k, box in enumerate(_boxes(img.size, rng, 60)):
            bases.append((f"{name}_{k:02d}", name, box))
    rng.shuffle(bases)
    need = copies_per_variant * len(VARIANTS)
    if len(bases) < need:
        copies_per_variant = max(1, len(bases) // len(VARIANTS))
    for image_id, name, box in bases:
        photo_crop(photos[name], box).save(out / f"{image_id}.jpg", quality=90)
        rows.append({"image_id": f"{image_id}.jpg", **_where(name, box)})
    for v, (kind, strength, fn) in enumerate(VARIANTS):
        for c in range(copies_per_variant):
            image_id, name, box = bases[v * copies_per_variant + c]
            copy = fn(photo_crop(photos[name], box), rng).convert("RGB")
            target = f"copy_{kind}_{v:02d}_{c:02d}.jpg"
            copy.save(out / target, quality=90)
            rows.append({"image_id": target, "duplicate_of": f"{image_id}.jpg",
                         "duplicate_kind": kind, "strength": strength, **_where(name, box)})
    rows += _negatives(out, photos, bases, rng, hard_negatives)
    truth = pd.DataFrame(rows).fillna("")
    truth.to_csv(out.parent / "truth.csv", index=False)
    return truth


def _where(source: str, box) -> dict:
    """The truth table's record of where an image comes from: its source photo and the box
    (x0, y0, x1, y1, source pixels) it shows (a copy: its base's box)."""
    return {"source": source, "box": " ".join(str(int(v)) for v in box)}


def crop_related(box_a: str, box_b: str, keep: float = 0.8, inside: float = 0.97) -> bool:
    """Whether one box (``"x0 y0 x1 y1"``) is, within ``inside`` of its area, inside the
    other and keeps at least ``keep`` of its side on both axes: a crop of up to ~10 % a
    side: a near copy by labelclean's definition, planted or not."""
    a, b = (np.array(x.split(), float) for x in (box_a, box_b))
    if (a[2] - a[0]) * (a[3] - a[1]) > (b[2] - b[0]) * (b[3] - b[1]):
        a, b = b, a  # a: the smaller
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    if ix * iy < inside * (a[2] - a[0]) * (a[3] - a[1]):
        return False
    return (a[2] - a[0]) >= keep * (b[2] - b[0]) and (a[3] - a[1]) >= keep * (b[3] - b[1])


def also_copies(truth: pd.DataFrame) -> set[frozenset]:
    """Pairs of images of one source whose boxes are :func:`crop_related`, other than a
    planted copy and its base."""
    planted = {frozenset(p) for p in zip(truth["image_id"], truth["duplicate_of"]) if p[1]}
    known = truth[truth["box"] != ""] if "box" in truth else truth.iloc[:0]
    pairs = set()
    for _, part in known.groupby("source"):
        rows = list(zip(part["image_id"], part["box"]))
        pairs |= {frozenset((a, b)) for k, (a, box_a) in enumerate(rows)
                  for b, box_b in rows[k + 1:] if crop_related(box_a, box_b)}
    return pairs - planted


def _negatives(out, photos, bases, rng, count):
    rows = []
    for image_id, name, box in bases[:count]:
        other = _shifted_box(box, photos[name].size, rng)
        if other is None:
            continue
        target = f"neg_crop_{image_id}.jpg"
        photo_crop(photos[name], other).save(out / target, quality=90)
        rows.append({"image_id": target, "negative_of": f"{image_id}.jpg",
                     "negative_kind": "other crop 50-80 %", **_where(name, other)})
    for name in ("china", "flower", "astronaut", "rocket", "coffee"):
        if name not in photos:
            continue
        flats = _flat_boxes(photos[name], rng, 2)
        ids = [f"neg_flat_{name}_{k}.jpg" for k in range(len(flats))]
        for target, box in zip(ids, flats):
            photos[name].crop(box).resize((256, 256)).save(out / target, quality=90)
        rows += [{"image_id": ids[1], "negative_of": ids[0], "negative_kind": "flat regions",
                  **_where(name, flats[1])}, {"image_id": ids[0], **_where(name, flats[0])}]
    for name in ("grass", "gravel", "brick"):
        if name in photos:
            ids = [f"neg_texture_{name}_{k}.jpg" for k in range(2)]
            for target, (x0, y0) in zip(ids, [(0, 0), (256, 256)]):
                photos[name].crop((x0, y0, x0 + 256, y0 + 256)).save(out / target, quality=90)
            rows.append({"image_id": ids[1], "negative_of": ids[0], "negative_kind": "texture"})
    threes = _digits(rng, 4)
    ids = [f"neg_three_{k}.jpg" for k in range(len(threes))]
    for target, img in zip(ids, threes):
        img.save(out / target, quality=92)
    rows += [{"image_id": b, "negative_of": ids[0], "negative_kind": "handwritten 3s"}
             for b in ids[1:]]
    return rows
