"""The Cassava story, end to end, as a user runs it from a shell.

You have ``train.csv`` (``image_id,label``) and ``train_images/``, and your own k-fold
out-of-fold predictions. This script plays every part:

1. makes a Cassava-style folder (the demo data: digits as photos, with known problems);
2. trains *your* k-fold model (here a 5-fold logistic regression on tiny pixels) and saves
   its OOF as ``my_oof.csv`` with Kaggle-style columns ``image_id, pred_0 .. pred_9``;
3. runs ``labelclean init``, ``scan``, ``dedupe``, ``noise --oof my_oof.csv`` and ``report``;
4. plays the reviewer: accepts every relabel, but keeps the label of the first image the
   tool wanted to drop, and exports that as ``reviewed.csv``;
5. runs ``labelclean apply --manifest reviewed.csv`` to get the final ``clean.csv``.

    python examples/cassava_walkthrough.py [--out DIR] [--n-images 1797]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _cli import labelclean
from PIL import Image


def make_competition_folder(out: Path, n_images: int) -> None:
    """train.csv + train_images/, like the Kaggle download."""
    from labelclean.demo.data import make_demo

    demo = make_demo(out / "download", n_images=n_images, n_exact=max(4, n_images // 30),
                     n_near=max(8, n_images // 15))
    (out / "train_images").mkdir(parents=True, exist_ok=True)
    for path in demo.images.iterdir():
        (out / "train_images" / path.name).write_bytes(path.read_bytes())
    labels = pd.read_csv(demo.labels, dtype=str)
    labels.to_csv(out / "train.csv", index=False)


def my_kfold_oof(out: Path) -> Path:
    """Your own k-fold model's out-of-fold predictions, saved the way Kaggle notebooks do."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    train = pd.read_csv(out / "train.csv", dtype=str)
    keep, features = [], []
    for image_id in train["image_id"]:
        try:
            with Image.open(out / "train_images" / image_id) as img:
                small = np.asarray(img.convert("RGB").resize((8, 8)), dtype=np.float32)
        except OSError:  # your pipeline would skip broken files too
            continue
        keep.append(image_id)
        features.append((small[..., 1] - small[..., 0]).ravel() / 255)
    labels = train.set_index("image_id").loc[keep, "label"].astype(int).to_numpy()
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    probs = cross_val_predict(LogisticRegression(C=0.5, max_iter=2000), np.stack(features),
                              labels, cv=folds, method="predict_proba")
    oof = pd.DataFrame(probs, columns=[f"pred_{c}" for c in range(probs.shape[1])])
    oof.insert(0, "image_id", keep)
    path = out / "my_oof.csv"
    oof.to_csv(path, index=False)
    return path


def review(manifest_path: Path, reviewed_path: Path) -> pd.DataFrame:
    """What a reviewer does in the report, done here in pandas: overrule one drop."""
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    wrong_label_drops = manifest[(manifest["action"] == "drop")
                                 & manifest["reason"].str.contains("label_issue")]
    if len(wrong_label_drops):
        manifest.loc[wrong_label_drops.index[0], "action"] = "keep"
    manifest.to_csv(reviewed_path, index=False)
    return manifest


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="cassava-")))
    parser.add_argument("--n-images", type=int, default=1797)
    args = parser.parse_args(argv)
    out = args.out
    make_competition_folder(out, args.n_images)
    oof = my_kfold_oof(out)
    labelclean("init", "--images", "train_images", "--labels", "train.csv", cwd=out)
    labelclean("scan", cwd=out)
    labelclean("dedupe", cwd=out)
    labelclean("noise", "--oof", oof.name, cwd=out)
    labelclean("report", cwd=out)
    review(out / ".labelclean" / "manifest.csv", out / "reviewed.csv")
    labelclean("apply", "--manifest", "reviewed.csv", cwd=out)
    clean = pd.read_csv(out / ".labelclean" / "clean.csv", dtype=str).set_index("image_id")
    given = pd.read_csv(out / "train.csv", dtype=str).set_index("image_id")["label"]
    relabelled = int((clean["label"] != given.loc[clean.index]).sum())
    print(f"train.csv: {len(given):,} rows -> clean.csv: {len(clean):,} rows, "
          f"{relabelled:,} of them relabelled")
    return out


if __name__ == "__main__":
    main()
