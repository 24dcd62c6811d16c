"""Precision and recall of ``labelclean dedupe`` on near copies of real photos, per kind.

Builds the benchmark of ``examples/_photo_set.py`` (crops of the photos shipped by
scikit-learn, matplotlib and, when installed, scikit-image; one planted copy per base photo,
each kind of change at several strengths; hard negatives), runs scan + dedupe twice (the
defaults, then ``flips`` and ``rotations`` on), and prints per kind and strength: recall,
precision of the pairs holding a copy of that kind, and the share of hard-negative pairs
grouped. With ``--imagededup``, imagededup's ``PHash().find_duplicates`` (radius 10) is
scored on the same folder.

Usage: python examples/bench_photo_dupes.py [--out bench-photo] [--copies 10] [--seed 0]
       [--imagededup] [--report FILE]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from itertools import combinations
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import show  # noqa: E402
from _photo_set import also_copies, make_photo_set  # noqa: E402

from labelclean.dedupe.options import DedupeOptions  # noqa: E402
from labelclean.dedupe.stage import dedupe_workdir  # noqa: E402
from labelclean.io.dataset import load_dataset  # noqa: E402
from labelclean.scan.stage import scan_dataset  # noqa: E402


def found_pairs(table: pd.DataFrame) -> set[frozenset]:
    pairs = set()
    for _, rows in table.groupby("group_id"):
        pairs |= {frozenset(p) for p in combinations(rows["image_id"].astype(str), 2)}
    return pairs


def true_pairs(truth: pd.DataFrame) -> set[frozenset]:
    """The planted copies' pairs, and the pairs that are crops of each other by chance
    (:func:`also_copies`): a grouped pair of either kind is correct."""
    copies = truth[truth["duplicate_of"] != ""]
    planted = {frozenset((a, b)) for a, b in zip(copies["image_id"], copies["duplicate_of"])}
    return planted | also_copies(truth)


def score(found: set[frozenset], truth: pd.DataFrame, kinds: set[str],
          true: set[frozenset]) -> list[dict]:
    """One row per (kind, strength): recall, precision of the pairs holding such a copy
    (``true``: :func:`true_pairs` of ``truth``)."""
    copies = truth[truth["duplicate_of"] != ""]
    rows = []
    for (kind, strength), part in copies.groupby(["duplicate_kind", "strength"], sort=False):
        if kind not in kinds:
            continue
        ids = set(part["image_id"])
        mine = [p for p in found if p & ids]
        hits = sum(frozenset((a, b)) in found
                   for a, b in zip(part["image_id"], part["duplicate_of"]))
        correct = sum(p in true for p in mine)
        rows.append({"kind": kind, "strength": strength, "recall": hits / len(part),
                     "found": hits, "total": len(part),
                     "precision": correct / len(mine) if mine else 1.0, "pairs": len(mine)})
    return rows


def negatives(found: set[frozenset], truth: pd.DataFrame) -> list[dict]:
    neg = truth[truth["negative_of"] != ""]
    rows = []
    for kind, part in neg.groupby("negative_kind", sort=False):
        grouped = sum(frozenset((a, b)) in found
                      for a, b in zip(part["image_id"], part["negative_of"]))
        rows.append({"kind": kind, "pairs": len(part), "grouped": grouped,
                     "rate": grouped / len(part)})
    return rows


def overall(found: set[frozenset], true: set[frozenset]) -> tuple[float, int]:
    return (len(found & true) / len(found) if found else 1.0), len(found)


def run_labelclean(images: Path, workdir: Path, **options) -> set[frozenset]:
    shutil.rmtree(workdir, ignore_errors=True)
    scan_dataset(load_dataset(images), workdir)
    return found_pairs(dedupe_workdir(workdir, options=DedupeOptions(**options)).table)


def run_imagededup(images: Path) -> set[frozenset]:
    import logging

    from imagededup.methods import PHash

    logging.getLogger("imagededup").setLevel(logging.WARNING)
    found = PHash(verbose=False).find_duplicates(image_dir=str(images))
    return {frozenset((a, b)) for a, others in found.items() for b in others}


def table(rows: list[dict]) -> str:
    lines = ["| kind | strength | found | total | recall | pairs with such a copy | "
             "precision |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['strength']} | {r['found']} | {r['total']} | "
                     f"{r['recall']:.3f} | {r['pairs']} | {r['precision']:.3f} |")
    return "\n".join(lines)


def by_kind(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    lines = ["| kind | recall | precision |", "| --- | ---: | ---: |"]
    for kind, part in frame.groupby("kind", sort=False):
        recall = part["found"].sum() / part["total"].sum()
        pairs = part["pairs"].sum()
        correct = (part["precision"] * part["pairs"]).sum()
        lines.append(f"| {kind} | {recall:.3f} | {correct / pairs if pairs else 1.0:.3f} |")
    return "\n".join(lines)


def neg_table(rows: list[dict]) -> str:
    lines = ["| hard negative | pairs | grouped | false-pair rate |",
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r['kind']} | {r['pairs']} | {r['grouped']} | {r['rate']:.3f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-photo"))
    parser.add_argument("--copies", type=int, default=10, help="copies per kind and strength")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--imagededup", action="store_true")
    parser.add_argument("--report", type=Path, default=None, help="append the tables")
    args = parser.parse_args(argv)
    images = args.out / "images"
    shutil.rmtree(images, ignore_errors=True)
    truth = make_photo_set(images, copies_per_variant=args.copies, seed=args.seed)
    n = len(truth)
    plain = {"brightness", "contrast", "gamma", "jpeg", "resize", "shift", "pad", "crop"}
    runs = {"defaults": run_labelclean(images, args.out / "wd"),
            "--flips --rotations": run_labelclean(images, args.out / "wd", flips=True,
                                                  rotations=True)}
    if args.imagededup:
        runs["imagededup PHash (radius 10)"] = run_imagededup(images)
    parts = [f"{n} images ({(truth['duplicate_of'] != '').sum()} planted copies, "
             f"{(truth['negative_of'] != '').sum()} hard-negative pairs), seed {args.seed}"]
    true, chance = true_pairs(truth), also_copies(truth)
    for name, found in runs.items():
        kinds = plain | ({"flip", "rotation"} if name != "defaults" else set())
        rows = score(found, truth, kinds, true)
        precision, count = overall(found, true)
        parts += [f"\n### {name}\n", f"All {count} grouped pairs: precision {precision:.3f} "
                  f"({len(found & chance)} of the {len(chance)} pairs that are crops of up to "
                  f"~10 % a side of each other by chance, not planted, grouped: correct)\n",
                  by_kind(rows), "", table(rows), "", neg_table(negatives(found, truth))]
    text = "\n".join(parts) + "\n"
    show(text, args.report)


if __name__ == "__main__":
    main()
