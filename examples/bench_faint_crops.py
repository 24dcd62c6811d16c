"""Faint photos: the least textured crops of real photos (skies, walls, haze), none a copy of
another, and planted copies of some, through ``labelclean scan`` + ``dedupe``.

    python examples/bench_faint_crops.py [--out bench-faint] [--per-photo 8] [--seed 7]
        [--dark 200]

Each source photo (``_photo_set.source_photos``: scikit-learn's and matplotlib's, and
scikit-image's when installed) gives ``--per-photo`` crops of its flattest regions, at most
25 % IoU apart (a shifted view of one sky is a copy, two skies are not). The two faintest
of each get two planted copies: half size, and contrast x1.2. Printed: recall of the
planted copies; grouped pairs of images of different crops (false pairs) against all such
pairs of one photo, overall and per photo; and the spread of the thumbnails. ``--dark N``
adds N synthetic dark frames (smooth shading and sensor noise, no two alike) and prints
how many of them were grouped.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import ImageEnhance

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _photo_set import _flat_boxes, photo_crop, source_photos  # noqa: E402

#: Planted copies of each of a photo's faintest crops: name prefix -> change.
COPIES = {"half": lambda img: img.resize((img.width // 2, img.height // 2)),
          "contrast": lambda img: ImageEnhance.Contrast(img).enhance(1.2)}
PLANTED_PER_PHOTO = 2


def make_faint_set(folder: Path, per_photo: int, seed: int) -> pd.DataFrame:
    """Write the crops and copies to ``folder``; return the truth (image_id, source, base:
    the crop an image shows)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rows = []
    for name, img in source_photos().items():
        for k, box in enumerate(_flat_boxes(img, rng, per_photo)):
            base = f"{name}_{k:02d}.jpg"
            crop = photo_crop(img, box)
            crop.save(folder / base, quality=90)
            rows.append((base, name, base))
            for prefix, change in (COPIES.items() if k < PLANTED_PER_PHOTO else ()):
                change(crop).save(folder / f"{prefix}_{base}", quality=90)
                rows.append((f"{prefix}_{base}", name, base))
    return pd.DataFrame(rows, columns=["image_id", "source", "base"])


def make_dark_frames(folder: Path, n: int, seed: int) -> list[str]:
    """``n`` dark greyscale JPEGs (level 40-80, shading of 1.5-4 levels, noise of 2)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    names = []
    for k in range(n):
        cells = Image.fromarray(rng.normal(0, 1, (3, 4)).astype(np.float32), "F")
        shade = np.asarray(cells.resize((400, 300), Image.Resampling.BICUBIC))
        frame = 40 + 10 * (k % 5) + shade * rng.uniform(1.5, 4) + rng.normal(0, 2, (300, 400))
        names.append(f"dark_{k:04d}.jpg")
        Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)).save(folder / names[-1],
                                                                      quality=85)
    return names


def score(truth: pd.DataFrame, groups: list[list[str]]) -> dict:
    """Recall of the planted copies, false pairs (overall and per source photo)."""
    base = dict(zip(truth["image_id"], truth["base"]))
    source = dict(zip(truth["image_id"], truth["source"]))
    together = {frozenset(p) for g in groups for p in itertools.combinations(g, 2)}
    planted = truth[truth["image_id"] != truth["base"]]
    found = sum(frozenset((c, b)) in together for c, b in zip(planted["image_id"],
                                                               planted["base"]))
    false = [p for p in together if len({base[x] for x in p}) == 2]
    per_source = truth.groupby("source")["base"].agg(list)
    negatives = sum(sum(a != b for a, b in itertools.combinations(bases, 2))
                    for bases in per_source)
    by_photo = pd.Series([source[next(iter(p))] for p in false], dtype=object).value_counts()
    return {"planted": len(planted), "found": found, "false": false, "negatives": negatives,
            "by_photo": by_photo}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-faint"))
    parser.add_argument("--per-photo", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dark", type=int, default=0, help="synthetic dark frames to add")
    args = parser.parse_args(argv)
    if args.per_photo < 1 or args.dark < 0:
        parser.error("--per-photo must be at least 1 and --dark at least 0")
    from labelclean.dedupe.align import spread
    from labelclean.dedupe.stage import dedupe_workdir
    from labelclean.io.dataset import load_dataset
    from labelclean.io.formats import read_index, read_thumbs
    from labelclean.scan.stage import scan_dataset

    truth = make_faint_set(args.out / "images", args.per_photo, args.seed)
    dark = set(make_dark_frames(args.out / "images", args.dark, args.seed))
    wd = args.out / "wd"
    scan_dataset(load_dataset(args.out / "images"), wd, force=True)
    table = dedupe_workdir(wd, force=True).table
    groups = [rows["image_id"].tolist() for _, rows in table.groupby("group_id")]
    result = score(truth, [[x for x in g if x not in dark] for g in groups])
    result["dark_grouped"] = sum(x in dark for g in groups for x in g)
    ids = read_index(wd)["image_id"].to_numpy()
    levels = spread(read_thumbs(wd))
    is_dark = np.isin(ids, sorted(dark))
    for what, rows in (("photo crops", ~is_dark), ("dark frames", is_dark)):
        if rows.any():
            print(f"{what}: {int(rows.sum())}, thumbnail spread (grey levels) 10/50/90 %: "
                  f"{np.percentile(levels[rows], [10, 50, 90]).round(1).tolist()}")
    print(f"planted copies found: {result['found']} of {result['planted']} "
          f"({result['found'] / max(result['planted'], 1):.3f})")
    print(f"false pairs: {len(result['false'])} of {result['negatives']} pairs of different "
          f"crops of one photo ({len(result['false']) / max(result['negatives'], 1):.2%})")
    for photo, count in result["by_photo"].items():
        print(f"  {photo}: {count}")
    if dark:
        print(f"dark frames grouped: {result['dark_grouped']} of {len(dark)}")
    return result


if __name__ == "__main__":
    main()
