"""Outliers on the demo: photo crops planted among the digits, found from the fold models'
features, offline.

    python examples/bench_outliers.py [--out bench-outliers] [--planted 36] [--n-images N]

Builds the demo dataset (``labelclean.demo.data.make_demo``: scikit-learn's digits drawn as
small leaf-coloured images, with its wrong labels and copies) and adds ``--planted`` foreign
images: crops of the real photos shipped with scikit-learn and matplotlib, resized to the
digits' 64x64 and given a random digit label. Then runs ``scan``, ``dedupe``, ``oof --from
train`` (the demo's settings: a small CNN per fold, which also saves each image's pooled
features from the model of its own fold) and ``noise``, which scores outliers from those
features (kNN through faiss, Tukey's fence on the mean neighbour distance). Prints
precision and recall of ``outlier`` in ``quality.csv`` against the planted images, and of
the top-ranked ``outlier_score`` as a check that the ranking, not only the threshold, works.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def plant_photos(images: Path, labels: Path, n: int, seed: int = 1) -> list[str]:
    """Add ``n`` 64x64 photo crops to the demo's images and labels file; their ids."""
    from _quality_data import _crop, source_photos

    rng = np.random.default_rng(seed)
    photos = source_photos()
    table = pd.read_csv(labels, dtype=str, keep_default_na=False)
    ids = []
    for i in range(n):
        img = _crop(rng, photos[i % len(photos)]).resize((64, 64))
        image_id = f"photo_{i:03d}.jpg"
        img.save(images / image_id, quality=90)
        ids.append(image_id)
    extra = pd.DataFrame({"image_id": ids, "label": rng.integers(0, 10, n).astype(str)})
    pd.concat([table, extra]).to_csv(labels, index=False)
    return ids


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-outliers"))
    parser.add_argument("--planted", type=int, default=36)
    parser.add_argument("--n-images", type=int, default=None)
    parser.add_argument("--report", type=Path, default=None,
                        help="write the figures as the '## Outliers' section of this file")
    parser.add_argument("--reuse", action="store_true",
                        help="keep a dataset --out already holds (its unchanged stages are "
                             "reused, noise runs again)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from labelclean.demo.run import prepare_demo
    from labelclean.io.qualityfile import read_quality
    from labelclean.pipeline.runner import run_pipeline

    reuse = args.reuse and (args.out / "labels.csv").exists()
    if args.out.exists() and not reuse:
        import shutil

        shutil.rmtree(args.out)
    project = prepare_demo(args.out, args.n_images)
    if reuse:
        planted = {p.name for p in (args.out / "train_images").glob("photo_*.jpg")}
    else:
        planted = set(plant_photos(args.out / "train_images", args.out / "labels.csv",
                                   args.planted))
    start = time.perf_counter()
    run_pipeline(project, stages=("scan", "dedupe", "oof", "noise"))
    seconds = time.perf_counter() - start
    quality = read_quality(project.workdir)
    truth = quality["image_id"].isin(planted).to_numpy()
    flagged = quality["issues"].fillna("").str.split(";").map(
        lambda names: "outlier" in names).to_numpy()
    tp = int((flagged & truth).sum())
    ranked = quality["outlier_score"].fillna(1.0).to_numpy().argsort(kind="stable")
    top = np.zeros(len(quality), bool)
    top[ranked[:len(planted)]] = True
    summary = json.loads((project.workdir / "summary.json").read_text())["quality"]
    out = {"images": len(quality), "planted": len(planted), "flagged": int(flagged.sum()),
           "outliers_from": summary["outliers_from"],
           "precision": tp / max(int(flagged.sum()), 1), "recall": tp / len(planted),
           "precision_at_planted": float((top & truth).sum() / len(planted)),
           "seconds": round(seconds, 1)}
    for key, value in out.items():
        print(f"{key:22s} {value:.3f}" if isinstance(value, float) else f"{key:22s} {value}")
    if args.report:
        write_section(args.report, out, argv if argv is not None else sys.argv[1:])
    return out


def write_section(path: Path, out: dict, argv: list[str]) -> None:
    """Replace (or add) the ``## Outliers`` section of ``path``."""
    from _quality_report import shown_command

    text = path.read_text() if path.exists() else ""
    head = text.split("\n## Outliers")[0].rstrip("\n")
    section = [
        "## Outliers on the demo", "",
        shown_command("bench_outliers.py", [a for a in argv if a != "--reuse"]), "",
        f"The demo's {out['images'] - out['planted']:,} digit images (with its wrong labels and "
        f"copies) and {out['planted']} photo crops planted among them with random labels; "
        "`scan`, `dedupe`, `oof --from train` (a small CNN per fold, trained from scratch, "
        f"offline) and `noise`, which scored outliers from the {out['outliers_from']}: each "
        "fold's images searched among themselves, k a tenth of them, Tukey's fence.", "",
        "| images | planted | flagged | precision | recall | precision of the "
        f"{out['planted']} lowest scores | seconds (this run) |",
        "|---|---|---|---|---|---|---|",
        f"| {out['images']:,} | {out['planted']} | {out['flagged']} | {out['precision']:.3f} | "
        f"{out['recall']:.3f} | {out['precision_at_planted']:.3f} | {out['seconds']} |", ""]
    path.write_text((head + "\n\n" if head else "") + "\n".join(section))


if __name__ == "__main__":
    main()
