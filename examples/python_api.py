"""labelclean from Python, notebook style: each stage is a plain function over plain data.

    python examples/python_api.py [--out DIR] [--n-images 400]

Cells: build a dataset, scan it, find duplicates, make out-of-fold probabilities on raw
pixel features (fast mode, any (N, D) array works), score the labels with cleanlab, look at
the worst images, and write the report — without the command line.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from labelclean.dedupe.find import exact_groups, near_groups_from_hashes
from labelclean.dedupe.stage import dedupe_workdir
from labelclean.demo.data import make_demo
from labelclean.io.dataset import load_dataset
from labelclean.noise.stage import find_noise
from labelclean.oof.folds import duplicate_groups
from labelclean.oof.stage import out_of_fold_probs
from labelclean.report.build import build_report
from labelclean.scan.stage import scan_dataset


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="api-")))
    parser.add_argument("--n-images", type=int, default=400)
    args = parser.parse_args(argv)
    work = args.out / "work"

    # %% A dataset: images + labels.csv (the demo has known problems in truth.csv)
    demo = make_demo(args.out / "data", n_images=args.n_images, n_exact=10, n_near=20)
    dataset = load_dataset(demo.images, demo.labels)
    print(f"{len(dataset)} images, classes {dataset.classes}")

    # %% Scan: one row per file, readable or not; hashes and thumbnails from one decode
    scan = scan_dataset(dataset, work)
    print(scan.summary)

    # %% Duplicates, the low-level way: groups of row numbers from hashes or vectors ...
    index, thumbs = scan.index, np.asarray(scan.thumbs)  # thumbs: (N, 32, 32) uint8
    same_bytes = exact_groups(index["sha256"].tolist())  # unreadable rows: "" never pair
    near = near_groups_from_hashes(scan.hashes["phash"].tolist(), radius=10, thumbs=thumbs)
    print(f"{len(same_bytes)} groups of identical files, {len(near)} near-duplicate groups")
    # ... or the whole stage on the scanned work directory, which writes duplicates.csv
    duplicates = dedupe_workdir(work).table

    # %% Out-of-fold probabilities from any (N, D) features, folds grouped by duplicates
    rows = np.flatnonzero(index["readable"] & index["label"].notna())
    labeled = index.iloc[rows].reset_index(drop=True)
    features = thumbs[rows].reshape(len(rows), -1).astype(np.float32) / 255.0  # (N, 1024)
    position = {c: i for i, c in enumerate(dataset.classes)}
    labels = labeled["label"].map(position).to_numpy()
    groups = duplicate_groups(labeled["image_id"].tolist(), labeled["sha256"].tolist(),
                              duplicates)
    oof = out_of_fold_probs(features, labels, groups, n_classes=len(dataset.classes))
    print(f"OOF accuracy against the given labels: {(oof.probs.argmax(1) == labels).mean():.3f}")

    # %% Label issues: cleanlab scores + a decision per image
    noise = find_noise(labeled, oof.probs, dataset.classes, duplicates)
    print(noise.counts()["action"])
    print(noise.worst(5)[["image_id", "given_label", "suggested_label", "label_quality"]])

    # %% The review report (normally after writing manifest.csv, as `labelclean noise` does)
    report = build_report(work, demo.images)
    print(f"report: {report.path}")
    return {"noise": noise, "oof": oof, "duplicates": duplicates, "report": report}


if __name__ == "__main__":
    main()
