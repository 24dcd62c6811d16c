"""An ImageFolder tree (``root/<class>/*.jpg``), no labels file, no OOF: one ``labelclean run``.

labelclean reads the class from each image's folder, finds duplicates, makes its own
out-of-fold probabilities (k-fold training of a small model, folds grouped so copies never
straddle a fold), scores the labels, and writes the report and ``clean.csv``
(``image_id,label`` with the image's path as id).

    python examples/imagefolder_walkthrough.py [--out DIR] [--n-images 1797]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from _cli import labelclean


def make_tree(out: Path, n_images: int) -> Path:
    """Sort the demo's images into one folder per (given) class name."""
    from labelclean.demo.data import DIGIT_NAMES, make_demo

    demo = make_demo(out / "download", n_images=n_images, n_exact=max(4, n_images // 30),
                     n_near=max(8, n_images // 15))
    tree = out / "digits"
    for image_id, label in pd.read_csv(demo.labels, dtype=str).itertuples(index=False):
        folder = tree / DIGIT_NAMES[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / image_id).write_bytes((demo.images / image_id).read_bytes())
    return tree


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="tree-")))
    parser.add_argument("--n-images", type=int, default=1797)
    parser.add_argument("--epochs", type=int, default=None,
                        help="Training epochs per fold for the OOF (default: labelclean's).")
    args = parser.parse_args(argv)
    tree = make_tree(args.out, args.n_images)
    labelclean("init", "--images", str(tree.relative_to(args.out)), cwd=args.out)
    if args.epochs:  # any stage option can live in the project file
        config = args.out / "labelclean.toml"
        config.write_text(config.read_text() + f"\n[oof]\nepochs = {args.epochs}\n")
    labelclean("run", "--skip", "embed", cwd=args.out)
    clean = pd.read_csv(args.out / ".labelclean" / "clean.csv", dtype=str)
    print(clean.head().to_string(index=False))
    return args.out


if __name__ == "__main__":
    main()
