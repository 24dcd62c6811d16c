"""Precision and recall of the default ``labelclean dedupe`` on the demo dataset, per kind.

Builds the demo (``make_demo``; ``--seed`` picks another draw), runs scan + dedupe with the
default options, and scores the groups against ``truth.csv``.

Usage: python examples/eval_dedupe.py [--out demo-dedupe] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from labelclean.dedupe.stage import dedupe_workdir
from labelclean.demo.data import make_demo
from labelclean.evaluate.pairs import score_duplicates
from labelclean.io.dataset import load_dataset
from labelclean.scan.stage import scan_dataset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-dedupe"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    demo = make_demo(args.out / f"seed{args.seed}", seed=args.seed, overwrite=True)
    scan_dataset(load_dataset(demo.images, demo.labels), demo.root / "wd")
    result = dedupe_workdir(demo.root / "wd", force=True)
    scores = score_duplicates(result.table, pd.read_csv(demo.truth, dtype=str,
                                                        keep_default_na=False))
    print(f"demo seed {args.seed}: pair precision {scores['precision']:.3f}, "
          f"recall {scores['recall']:.3f} ({scores['found_pairs']} pairs found, "
          f"{scores['true_pairs']} true)")
    print("| kind | found | total | recall |\n| --- | ---: | ---: | ---: |")
    for kind, (found, total) in scores["recall_by_kind"].items():
        print(f"| {kind} | {found} | {total} | {found / total:.3f} |")
    print("\n| method | correct | found pairs | precision |\n| --- | ---: | ---: | ---: |")
    for method, (correct, found) in scores["precision_by_method"].items():
        print(f"| {method} | {correct} | {found} | {correct / found:.3f} |")


if __name__ == "__main__":
    main()
