"""Leaks across sets: ``labelclean dedupe --against TEST`` on a planted train/test leak set.

From the photo benchmark's bases (``examples/_photo_set.py``: crops of the photos shipped by
scikit-learn, matplotlib and, when installed, scikit-image), a test folder of
``--test`` images and a training folder of other bases, into which copies of some test
images are planted: the same bytes, JPEG re-encodes, resizes, brightness changes, crops of
5 % and 10 % a side and small shifts, plus hard negatives (other crops of a test image's
photo, overlapping it by 50-80 %). Scored: pairs (training image, test image) found, per
kind; with ``--imagededup``, imagededup's ``PHash`` (radius 10, its default) on the same
two folders (``encode_images`` of both, ``find_duplicates`` on the joined encodings, the
cross-set pairs kept).

Usage: python examples/bench_leaks.py [--out bench-leaks] [--test 120] [--seed 0]
       [--imagededup]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _photo_set import _boxes, _shifted_box, photo_crop, source_photos  # noqa: E402

from labelclean.dedupe.options import DedupeOptions  # noqa: E402
from labelclean.dedupe.stage import dedupe_workdir  # noqa: E402
from labelclean.io.dataset import load_dataset  # noqa: E402
from labelclean.scan.stage import scan_dataset  # noqa: E402


def _crop(img, frac):
    w, h = img.size
    return img.crop((int(frac * w), int(frac * h), w - int(frac * w), h - int(frac * h)))


def _jpeg(img, q):
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=q)
    return Image.open(io.BytesIO(buf.getvalue()))


def _shift(img, dx, dy):
    out = Image.new("RGB", img.size)
    out.paste(img, (dx, dy))
    return out


KINDS = {
    "bytes": None,
    "jpeg q40": lambda im: _jpeg(im, 40),
    "resize x0.6": lambda im: im.resize((im.width * 3 // 5, im.height * 3 // 5)),
    "brightness x1.2": lambda im: ImageEnhance.Brightness(im).enhance(1.2),
    "crop 5 % a side": lambda im: _crop(im, 0.05),
    "crop 10 % a side": lambda im: _crop(im, 0.10),
    "shift 4 px": lambda im: _shift(im, 4, 3),
}


def make_sets(out: Path, n_test: int, seed: int):
    """Write ``out/train`` and ``out/test``; returns (true pairs {train: test}, kinds,
    negative pairs)."""
    rng = np.random.default_rng(seed)
    photos = source_photos()
    bases = [(name, box) for name, img in photos.items()
             for box in _boxes(img.size, rng, 60)]
    if n_test >= len(bases):
        raise SystemExit(f"--test {n_test} needs more than {n_test} photo crops; the photos "
                         f"installed here give {len(bases)} (scikit-image adds 13 photos)")
    order = rng.permutation(len(bases))
    test_bases = [bases[k] for k in order[:n_test]]
    train_bases = [bases[k] for k in order[n_test:]]
    train, test = out / "train", out / "test"
    for folder in (train, test):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for k, (name, box) in enumerate(test_bases):
        photo_crop(photos[name], box).save(test / f"test_{k:04d}.jpg", quality=90)
    for k, (name, box) in enumerate(train_bases):
        photo_crop(photos[name], box).save(train / f"train_{k:04d}.jpg", quality=90)
    truth, kind_of, negatives = {}, {}, {}
    kinds = list(KINDS)
    for k in range(n_test // 2):  # half the test images leak, in turn by each kind
        kind = kinds[k % len(kinds)]
        src = test / f"test_{k:04d}.jpg"
        target = train / f"leak_{k:04d}.jpg"
        if KINDS[kind] is None:
            shutil.copyfile(src, target)
        else:
            KINDS[kind](Image.open(src).convert("RGB")).save(target, quality=90)
        truth[target.name], kind_of[target.name] = src.name, kind
    for k in range(n_test // 2, n_test):  # the others get an overlapping crop in train
        name, box = test_bases[k]
        other = _shifted_box(box, photos[name].size, rng)
        if other is not None:
            target = f"neg_{k:04d}.jpg"
            photo_crop(photos[name], other).save(train / target, quality=90)
            negatives[target] = f"test_{k:04d}.jpg"
    return truth, kind_of, negatives


def score(found: set[tuple[str, str]], truth, kind_of, negatives) -> dict:
    true = set(truth.items())
    by_kind = {}
    for image, kind in kind_of.items():
        hit, total = by_kind.get(kind, (0, 0))
        by_kind[kind] = (hit + ((image, truth[image]) in found), total + 1)
    return {"precision": len(found & true) / len(found) if found else 1.0,
            "recall": len(found & true) / len(true), "pairs": len(found), "by_kind": by_kind,
            "negatives": sum(p in found for p in negatives.items()) / max(len(negatives), 1)}


def run_labelclean(out: Path) -> tuple[float, set]:
    wd = out / "wd"
    shutil.rmtree(wd, ignore_errors=True)
    start = time.perf_counter()
    scan_dataset(load_dataset(out / "train"), wd)
    dedupe_workdir(wd, options=DedupeOptions(against=(str(out / "test"),)))
    seconds = time.perf_counter() - start
    import pandas as pd

    leaks = pd.read_csv(wd / "leaks.csv", dtype=str)
    return seconds, set(zip(leaks["image_id"], leaks["other_path"]))


def run_imagededup(out: Path) -> tuple[float, set]:
    import logging

    from imagededup.methods import PHash

    logging.getLogger("imagededup").setLevel(logging.WARNING)
    start = time.perf_counter()
    hasher = PHash(verbose=False)
    train = hasher.encode_images(image_dir=str(out / "train"))
    test = hasher.encode_images(image_dir=str(out / "test"))
    joined = {**{f"train/{k}": v for k, v in train.items()},
              **{f"test/{k}": v for k, v in test.items()}}
    found = hasher.find_duplicates(encoding_map=joined)
    seconds = time.perf_counter() - start
    pairs = {(a[6:], b[5:]) for a, others in found.items() if a.startswith("train/")
             for b in others if b.startswith("test/")}
    return seconds, pairs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-leaks"))
    parser.add_argument("--test", type=int, default=120, help="test images (half leak)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--imagededup", action="store_true")
    args = parser.parse_args(argv)
    truth, kind_of, negatives = make_sets(args.out, args.test, args.seed)
    tools = {"labelclean dedupe --against": run_labelclean}
    if args.imagededup:
        tools["imagededup PHash (radius 10)"] = run_imagededup
    n_train = len(list((args.out / "train").iterdir()))
    print(f"{n_train} training images, {args.test} test images, {len(truth)} planted leaks, "
          f"{len(negatives)} overlapping crops of test images (hard negatives), seed "
          f"{args.seed}\n")
    kinds = list(KINDS)
    print("| tool | seconds | pairs | precision | recall | " + " | ".join(kinds)
          + " | hard negatives grouped |")
    print("| --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in kinds)
          + " | ---: |")
    for name, run in tools.items():
        seconds, found = run(args.out)
        s = score(found, truth, kind_of, negatives)
        cells = " | ".join(f"{s['by_kind'][k][0]}/{s['by_kind'][k][1]}" for k in kinds)
        print(f"| {name} | {seconds:.1f} | {s['pairs']} | {s['precision']:.3f} | "
              f"{s['recall']:.3f} | {cells} | {s['negatives']:.3f} |")


if __name__ == "__main__":
    main()
