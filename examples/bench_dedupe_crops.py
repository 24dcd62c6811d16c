"""Scan + dedupe at scale on overlapping photos: many crops of the same few scenes.

Writes ``--n`` photo-sized JPEGs (``--side``, default 384 px, the longer side), each a
random crop (35-60 % of the side) of one of the real photos shipped by scikit-learn,
matplotlib and, when installed, scikit-image, so that crops of one scene overlap heavily (a
farmer photographing one plant from a few steps apart), plus ``--copies`` planted near
copies (re-encoded, brightened, resized). Then, each in its own process (imports outside
the timing): labelclean ``scan_dataset`` + ``dedupe_workdir`` with the defaults, and
imagededup's ``PHash().find_duplicates`` (radius 10). Reports seconds, peak resident memory
of each process and of its largest worker process (both tools use every core), the largest
group, and pair precision / recall of the planted copies.

Usage: python examples/bench_dedupe_crops.py [--n 20000] [--copies 500] [--out bench-crops]
       [--side 384] [--imagededup-python PY]

``--side 768`` writes larger files (closer to the per-image decode cost of the issue's
photo-sized crops); the crops are 35-60 % of photos of 512-1,000 px, so at 768 px they are
upscaled: more bytes to decode, no more detail. Use a separate ``--out`` per side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import ImageEnhance

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _photo_set import photo_crop, source_photos  # noqa: E402


def make_folder(out: Path, n: int, copies: int, seed: int = 0,
                side: int = 384) -> list[tuple[str, str]]:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = list(source_photos().values())
    names = []
    for k in range(n - copies):
        img = photos[k % len(photos)]
        w, h = img.size
        box = rng.uniform(0.35, 0.6) * min(w, h)
        bw, bh = int(box * rng.uniform(1.0, 1.4)), int(box)
        x0, y0 = int(rng.integers(0, max(1, w - bw))), int(rng.integers(0, max(1, h - bh)))
        name = f"crop_{k:06d}.jpg"
        path = out / name
        if not path.exists():
            photo_crop(img, (x0, y0, min(w, x0 + bw), min(h, y0 + bh)), side).save(
                path, quality=90)
        names.append(name)
    truth = []
    for c, src in enumerate(rng.choice(len(names), size=copies, replace=False)):
        from PIL import Image

        img = Image.open(out / names[src]).convert("RGB")
        kind = c % 3
        copy = (img.resize((img.width * 3 // 4, img.height * 3 // 4)) if kind == 0 else
                ImageEnhance.Brightness(img).enhance(1.15) if kind == 1 else img)
        target = f"copy_{c:06d}.jpg"
        copy.save(out / target, quality=60 if kind == 2 else 90)
        truth.append((names[src], target))
    return truth


LABELCLEAN = """
import json, resource, sys, time, shutil
import faiss  # imported before timing
from labelclean.dedupe.stage import dedupe_workdir
from labelclean.io.dataset import load_dataset
from labelclean.scan.stage import scan_dataset
folder, wd = sys.argv[1], sys.argv[2]
shutil.rmtree(wd, ignore_errors=True)
t = time.perf_counter()
scan_dataset(load_dataset(folder), wd)
scanned = time.perf_counter() - t
result = dedupe_workdir(wd)
seconds = time.perf_counter() - t
groups = [rows["image_id"].tolist() for _, rows in result.table.groupby("group_id")]
print(json.dumps({"seconds": seconds, "scan": scanned, "groups": groups,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "rss_workers": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "summary": {k: result.summary[k] for k in
                              ("rejected_candidates", "related_pairs", "to_drop")}}))
"""

IMAGEDEDUP = """
import json, logging, resource, sys, time
from imagededup.methods import PHash
logging.getLogger("imagededup").setLevel(logging.WARNING)
t = time.perf_counter()
found = PHash(verbose=False).find_duplicates(image_dir=sys.argv[1])
seconds = time.perf_counter() - t
pairs = [[a, b] for a, others in found.items() for b in others]
print(json.dumps({"seconds": seconds, "pairs": pairs,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "rss_workers": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run(code: str, *args: str, python: str | None = None) -> dict:
    done = subprocess.run([python or sys.executable, "-c", code, *args], capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def pairs(groups) -> set[frozenset]:
    return {frozenset((a, b)) for g in groups for k, a in enumerate(g) for b in g[k + 1:]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--copies", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("bench-crops"))
    parser.add_argument("--side", type=int, default=384, help="longer side of the crops, px")
    parser.add_argument("--no-imagededup", action="store_true")
    parser.add_argument("--imagededup-python", default=os.environ.get("BENCH_IMAGEDEDUP_PYTHON"),
                        help="python of an environment with imagededup (default: this one)")
    args = parser.parse_args(argv)
    folder = args.out / "images"
    truth = {frozenset(p) for p in make_folder(folder, args.n, args.copies,
                                                side=args.side)}
    results = {"labelclean scan + dedupe": run(LABELCLEAN, str(folder), str(args.out / "wd"))}
    if not args.no_imagededup:
        results["imagededup PHash (radius 10)"] = run(IMAGEDEDUP, str(folder),
                                                      python=args.imagededup_python)
    lc = results["labelclean scan + dedupe"]["seconds"]
    print(f"{args.n:,} JPEGs of {args.side} px (crops of {len(source_photos())} photos, "
          f"{args.copies} planted copies), {os.cpu_count()} cores\n")
    print("| method | seconds | x labelclean's time | peak RSS MB | largest worker's RSS MB | "
          "largest group | pairs | pair precision | pair recall |\n| --- | ---: | ---: | ---: | "
          "---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        found = pairs(r["groups"]) if "groups" in r else {frozenset(p) for p in r["pairs"]}
        largest = max((len(g) for g in r.get("groups", [])), default=0)
        hits = len(found & truth)
        print(f"| {name} | {r['seconds']:.1f} | {r['seconds'] / lc:.2f} | {r['rss'] / 1024:,.0f}"
              f" | {r['rss_workers'] / 1024:,.0f} | {largest:,} | {len(found):,} | "
              f"{hits / max(len(found), 1):.3f} | {hits / len(truth):.3f} |")
    extra = results["labelclean scan + dedupe"]
    print(f"\nlabelclean: scan {extra['scan']:.1f} s; {json.dumps(extra['summary'])}")


if __name__ == "__main__":
    main()
