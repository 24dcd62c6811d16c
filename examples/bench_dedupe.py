"""Speed of ``labelclean`` scan + dedupe against imagededup's PHash, side by side.

Writes N photo-sized (512x384) synthetic JPEGs with planted near copies (re-compressed,
resized, brightened, byte copies), then times on the same folder, in one run:

* labelclean: ``scan_dataset`` (one draft-mode decode per image: sha256, pHash, thumbnail)
  + ``dedupe_workdir`` (exact, same-pixel, hash and thumbnail search, verification);
* imagededup: ``PHash().encode_images`` + ``find_duplicates`` (its default radius 10).

Both use every core. Pair precision and recall on the planted copies are reported too.
imagededup is not a dependency of labelclean; install it to run this comparison::

    pip install imagededup

Usage: python examples/bench_dedupe.py [--n 2000] [--out bench-dedupe] [--report FILE]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from labelclean.dataset import load_dataset
from labelclean.datasets import synthetic_photo
from labelclean.duplicates_stage import dedupe_workdir
from labelclean.scan import scan_dataset


def make_folder(out: Path, n: int, copies: int, seed: int = 0) -> set[frozenset]:
    """``n`` JPEGs in ``out``, ``copies`` of them near copies of others; the true pairs."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    originals = n - copies
    for i in range(originals):
        synthetic_photo(rng).save(out / f"photo_{i:05d}.jpg", format="JPEG", quality=90)
    pairs = set()
    kinds = ("jpeg", "resize", "brightness", "bytes")
    for c, src in enumerate(rng.choice(originals, size=copies, replace=False)):
        kind = kinds[c % len(kinds)]
        source = out / f"photo_{src:05d}.jpg"
        target = out / f"copy_{c:05d}_{kind}.jpg"
        img = Image.open(source)
        if kind == "bytes":
            shutil.copyfile(source, target)
        elif kind == "jpeg":
            img.save(target, format="JPEG", quality=40)
        elif kind == "resize":
            img.resize((384, 288), Image.Resampling.BICUBIC).save(target, quality=90)
        else:
            ImageEnhance.Brightness(img).enhance(1.15).save(target, quality=90)
        pairs.add(frozenset((source.name, target.name)))
    return pairs


def pair_scores(found: set[frozenset], truth: set[frozenset]) -> tuple[float, float]:
    precision = len(found & truth) / len(found) if found else 1.0
    return precision, len(found & truth) / len(truth)


def run_labelclean(folder: Path, workdir: Path) -> tuple[float, set[frozenset]]:
    import faiss  # noqa: F401  (imported before timing, as imagededup's modules are)

    shutil.rmtree(workdir, ignore_errors=True)
    start = time.perf_counter()
    scan_dataset(load_dataset(folder), workdir, hash_methods=("phash",))
    table = dedupe_workdir(workdir).table
    seconds = time.perf_counter() - start
    found = set()
    for _, rows in table.groupby("group_id"):
        ids = rows["image_id"].tolist()
        found |= {frozenset((a, b)) for k, a in enumerate(ids) for b in ids[k + 1:]}
    return seconds, found


def run_imagededup(folder: Path) -> tuple[float, set[frozenset]]:
    from imagededup.methods import PHash

    start = time.perf_counter()
    duplicates = PHash(verbose=False).find_duplicates(image_dir=str(folder))
    seconds = time.perf_counter() - start
    found = {frozenset((a, b)) for a, others in duplicates.items() for b in others}
    return seconds, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench-dedupe"))
    parser.add_argument("--report", type=Path, default=None, help="append a markdown row")
    args = parser.parse_args()
    try:
        import imagededup  # noqa: F401
    except ImportError:
        raise SystemExit(
            "imagededup is not installed; run 'pip install imagededup' to compare") from None
    logging.getLogger("imagededup").setLevel(logging.WARNING)
    folder = args.out / "images"
    shutil.rmtree(folder, ignore_errors=True)
    truth = make_folder(folder, args.n, args.copies)
    rows = []
    ided_s, ided_found = run_imagededup(folder)  # first, so neither gets a warm page cache
    lc_s, lc_found = run_labelclean(folder, args.out / "workdir")
    for name, seconds, found in (("labelclean scan + dedupe", lc_s, lc_found),
                                 ("imagededup PHash (radius 10)", ided_s, ided_found)):
        precision, recall = pair_scores(found, truth)
        rows.append(f"| {name} | {seconds:.1f} | {args.n / seconds:,.0f} | {precision:.3f} "
                    f"| {recall:.3f} |")
    header = (f"{args.n} JPEGs 512x384 ({args.copies} planted copies), {os.cpu_count()} cores, "
              f"{platform.processor() or platform.machine()}; labelclean "
              f"{ided_s / lc_s:.1f}x faster\n\n"
              "| method | seconds | images/s | pair precision | pair recall |\n"
              "| --- | ---: | ---: | ---: | ---: |\n")
    text = header + "\n".join(rows) + "\n"
    print(text)
    if args.report:
        with open(args.report, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
