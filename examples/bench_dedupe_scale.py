"""Embedding near-duplicates at scale: 200,000 x 512 vectors with planted groups.

Writes a float16 ``.npy`` like the embed stage's (in chunks, so generating it costs little
memory), then finds the groups from the memmap with the library's kNN path (IVF index above
20,000 rows, exact inner products of the candidates, union-find) and reports the time, the
peak resident memory of the process, and the pair precision and recall of the planted groups.

Usage: python examples/bench_dedupe_scale.py [--n 200000] [--dim 512] [--groups 2000]
       [--out bench-dedupe-scale] [--report FILE]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np

from labelclean.dedupe.grouping import group_labels, groups_of
from labelclean.dedupe.neighbors import cosine_pairs


def write_vectors(path: Path, n: int, dim: int, groups: int, seed: int = 0) -> list[list[int]]:
    """Random unit-ish vectors; ``groups`` groups of 2 to 4 rows scattered over the file, each
    a base vector plus noise (cosine about 0.95-0.99 to the base). Returns the groups."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, dim))
    for start in range(0, n, 20_000):
        stop = min(n, start + 20_000)
        out[start:stop] = rng.normal(size=(stop - start, dim)) / np.sqrt(dim)
    rows = rng.permutation(n)
    truth, used = [], 0
    for _ in range(groups):
        size = int(rng.integers(2, 5))
        members = np.sort(rows[used:used + size])
        used += size
        base = np.asarray(out[members[0]], np.float32)
        for m in members[1:]:
            noise = rng.normal(size=dim) / np.sqrt(dim) * rng.uniform(0.1, 0.3)
            out[m] = base + noise
        truth.append(members.tolist())
    out.flush()
    del out
    return truth


def pairs_of(groups: list[list[int]]) -> set[tuple[int, int]]:
    return {(a, b) for g in groups for k, a in enumerate(g) for b in g[k + 1:]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--out", type=Path, default=Path("bench-dedupe-scale"))
    parser.add_argument("--report", type=Path, default=None, help="append a markdown row")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "vectors.npy"
    truth = write_vectors(path, args.n, args.dim, args.groups)
    x = np.load(path, mmap_mode="r")
    start = time.perf_counter()
    pairs = cosine_pairs(x, args.threshold, k=10)
    found = [g.tolist() for g in groups_of(group_labels(len(x), pairs.i, pairs.j))]
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    true_pairs, found_pairs = pairs_of(truth), pairs_of(found)
    precision = len(true_pairs & found_pairs) / max(len(found_pairs), 1)
    recall = len(true_pairs & found_pairs) / len(true_pairs)
    exact_groups = len({tuple(g) for g in truth} & {tuple(g) for g in found})
    text = (f"| {args.n:,} x {args.dim} float16 | {args.groups:,} ({len(true_pairs):,} pairs) "
            f"| {seconds:.1f} | {peak_mb:,.0f} | {precision:.4f} | {recall:.4f} "
            f"| {exact_groups:,} | {os.cpu_count()} |")
    header = ("| vectors | planted groups | seconds | peak RSS MB | pair precision | pair recall "
              "| groups found exactly | cores |\n"
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(header)
    print(text)
    if args.report:
        new_file = not args.report.exists()
        with open(args.report, "a", encoding="utf-8") as fh:
            fh.write((header + "\n" if new_file else "") + text + "\n")


if __name__ == "__main__":
    main()
