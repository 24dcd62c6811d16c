"""Search and scoring at scale: embedding near-duplicates and batched noise scoring.

    python examples/bench_scale.py embeddings [--n 1000000] [--dim 512] [--groups 10000]
    python examples/bench_scale.py hashes [--n 200000] [--blank 50000] [--radius 10]
    python examples/bench_scale.py noise [--n 10000000] [--classes 10]
                                         [--path batched|memory|both] [--filter-by METHOD]
    python examples/bench_scale.py all [--report reports/scale.md]

``embeddings`` writes an (N, D) float16 ``.npy`` as the embed stage does (in chunks) with
planted groups of 2-4 near copies (cosine ~0.95-0.99), then times the library's search from
the memmap (IVF-PQ above ``neighbors.PQ_LIMIT`` rows, candidates re-scored exactly, then
union-find) and reports the pair recall and precision of the planted copies.

``hashes`` searches random 64-bit hashes with a cluster of near-blank ones (within 2 bits
of zero) and shows that the candidates held at once stay ``HASH_BATCH x
(MAX_HASH_NEIGHBOURS + 1)``, against what a range search returns for one batch.

``noise`` writes an (N, K) float32 OOF ``.npy`` (the noise stage reads a ``.npy`` OOF as
(N, K) in labels-file order) with 10% of the labels wrong, and times
:func:`~labelclean.noise.scoring.score_images` on the memmap: above
``scoring.BATCHED_LIMIT`` rows cleanlab's batched finder, a batch at a time (``--path
memory``: the in-memory ``find_label_issues`` on the same rows; ``both``: one after the
other in one process, comparing the issue sets).

Each part runs in its own process (``all`` starts them), so the peak resident memory
(``ru_maxrss``) is that part's; it counts the memmap pages read. Timings exclude writing
the input files.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from labelclean import __version__


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_mb() -> float:
    """Peak RSS of the largest finished child process (cleanlab's worker pools)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def write_vectors(path: Path, n: int, dim: int, groups: int, seed: int = 0) -> np.ndarray:
    """Random vectors with ``groups`` planted groups of 2-4 rows (a base plus noise, cosine
    ~0.95-0.99), written in chunks. Returns the planted pairs, (P, 2) int64, ``i < j``."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, dim))
    for start in range(0, n, 50_000):
        stop = min(n, start + 50_000)
        out[start:stop] = rng.normal(size=(stop - start, dim)) / np.sqrt(dim)
    sizes = rng.integers(2, 5, groups)
    members = rng.choice(n, size=int(sizes.sum()), replace=False)
    pairs, used = [], 0
    for size in sizes:
        group = np.sort(members[used:used + size])
        used += size
        base = np.asarray(out[group[0]], np.float32)
        noise = rng.normal(size=(size - 1, dim)) / np.sqrt(dim)
        out[group[1:]] = base + noise * rng.uniform(0.1, 0.3, (size - 1, 1))
        a, b = np.triu_indices(size, 1)
        pairs.append(np.stack([group[a], group[b]], axis=1))
    out.flush()
    del out
    return np.concatenate(pairs).astype(np.int64)


def bench_embeddings(args) -> list[str]:
    from labelclean.dedupe import neighbors
    from labelclean.dedupe.grouping import group_labels

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = Path(tmp) / "embeddings.npy"
        start = time.perf_counter()
        truth = write_vectors(path, args.n, args.dim, args.groups)
        make_s = time.perf_counter() - start
        x = np.load(path, mmap_mode="r")
        start = time.perf_counter()
        pairs = neighbors.cosine_pairs(x, args.threshold, k=args.k, nprobe=args.nprobe)
        search_s = time.perf_counter() - start
        labels = group_labels(len(x), pairs.i, pairs.j)
        total_s = time.perf_counter() - start
    peak = peak_mb()
    same = labels[truth[:, 0]] == labels[truth[:, 1]]
    planted = set(map(tuple, truth.tolist()))
    found = set(zip(pairs.i.tolist(), pairs.j.tolist()))
    direct = len(planted & found)
    precision = direct / max(len(found), 1)
    index = ("exact" if args.n <= neighbors.EXACT_LIMIT else
             "IVF-PQ" if args.n > neighbors.PQ_LIMIT else "IVF")
    return [
        f"| {args.n:,} x {args.dim} float16 ({args.n * args.dim * 2 / 1e9:.1f} GB) | {index} "
        f"| {args.groups:,} ({len(truth):,}) | {search_s:.1f} | {total_s:.1f} | {peak:,.0f} "
        f"| {direct / len(truth):.4f} | {same.mean():.4f} | {precision:.4f} | {make_s:.0f} |"]


EMBEDDING_HEADER = [
    "| vectors | index | planted groups (pairs) | search s | search + groups s | peak RSS MB "
    "| pair recall | same-group recall | pair precision | writing the file s |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]


def bench_hashes(args) -> list[str]:
    """Random 64-bit hashes, ``--blank`` of them within 2 bits of zero (near-blank images)."""
    import faiss

    from labelclean.dedupe import neighbors

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (args.n, 8), dtype=np.uint8)
    codes[:args.blank] = 0
    flips = rng.integers(0, 64, (args.blank, 2))
    rows = np.arange(args.blank)
    for column in flips.T:
        codes[rows, column // 8] ^= (1 << (column % 8)).astype(np.uint8)
    start = time.perf_counter()
    pairs = neighbors.hamming_pairs(codes, args.radius)
    seconds = time.perf_counter() - start
    peak = peak_mb()
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    lims, _, _ = index.range_search(codes[:512], args.radius + 1)  # one batch of blanks
    bound = neighbors.HASH_BATCH * (neighbors.MAX_HASH_NEIGHBOURS + 1)
    return [f"| {args.n:,} ({args.blank:,} near-blank) | {args.radius} | {seconds:.1f} "
            f"| {peak:,.0f} | {len(pairs):,} | {bound:,} | {int(lims[-1]):,} |"]


HASH_HEADER = [
    "| hashes | radius | seconds | peak RSS MB | pairs | candidates per batch at most "
    "| a range search's results for 512 near-blank queries |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]


def write_oof(path: Path, labels_path: Path, n: int, k: int, seed: int = 0) -> None:
    """(N, K) float32 probabilities and (N,) int64 given labels, 10% wrong, in chunks."""
    rng = np.random.default_rng(seed)
    probs = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, k))
    given = np.lib.format.open_memmap(labels_path, mode="w+", dtype=np.int64, shape=(n,))
    for start in range(0, n, 1_000_000):
        m = min(n, start + 1_000_000) - start
        true = rng.integers(0, k, m)
        given[start:start + m] = np.where(rng.random(m) < 0.1,
                                          (true + rng.integers(1, k, m)) % k, true)
        alpha = np.full((m, k), 0.3, dtype=np.float32)
        alpha[np.arange(m), true] = np.where(rng.random(m) < 0.1, 1.0, 8.0)
        p = rng.gamma(alpha).astype(np.float32)
        probs[start:start + m] = p / p.sum(axis=1, keepdims=True)
    probs.flush()
    given.flush()


def bench_noise(args) -> list[str]:
    from labelclean.noise import scoring

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path, labels_path = Path(tmp) / "oof.npy", Path(tmp) / "given.npy"
        start = time.perf_counter()
        write_oof(path, labels_path, args.n, args.classes)
        make_s = time.perf_counter() - start
        probs = np.load(path, mmap_mode="r")
        given = np.load(labels_path)
        readable = np.ones(args.n, bool)
        lines, first = [], None
        runs = {"batched": [0], "memory": [args.n], "both": [0, args.n]}[args.path]
        for limit in runs:
            start = time.perf_counter()
            image = scoring.score_images(probs, given, readable, batched_limit=limit,
                                         filter_by=args.filter_by)
            seconds = time.perf_counter() - start
            same = ("" if first is None else
                    f"{int((image.is_issue != first).sum()):,} rows differ from batched")
            name = "batched" if limit == 0 else f"in memory, {args.filter_by}"
            lines.append(
                f"| {args.n:,} x {args.classes} float32 .npy memmap "
                f"({args.n * args.classes * 4 / 1e9:.1f} GB) | {name} | {seconds:.1f} "
                f"| {peak_mb():,.0f} | {children_mb():,.0f} | {int(image.is_issue.sum()):,} "
                f"| {np.nanmean(image.quality):.4f} | {same} | {make_s:.0f} |")
            first = image.is_issue.copy() if first is None else first
            del image
    return lines


NOISE_HEADER = [
    "| OOF | path | seconds | peak RSS MB (so far in the process) | largest child process MB "
    "| label issues | mean label quality | issue set | writing the files s |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["embeddings", "hashes", "noise", "all"])
    parser.add_argument("--n", type=int, default=None,
                        help="rows (default 1,000,000 embeddings, 10,000,000 OOF rows)")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--blank", type=int, default=50_000,
                        help="hashes: near-blank images among them")
    parser.add_argument("--radius", type=int, default=10)
    parser.add_argument("--path", choices=["batched", "memory", "both"], default="batched",
                        help="noise: cleanlab's batched finder, the in-memory one, or both "
                             "(in that order, one process: the issue sets are compared)")
    parser.add_argument("--filter-by", default="low_self_confidence",
                        help="noise: filter_by of the in-memory path")
    parser.add_argument("--tmp", default=None, help="folder for the generated files")
    parser.add_argument("--report", type=Path, default=None, help="append the rows here")
    args = parser.parse_args(argv)
    if args.part == "all":
        for part in ("embeddings", "hashes", "noise"):
            extra = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "all"]
            subprocess.run([sys.executable, __file__, part, *extra], check=True)
        return
    bench, header, default_n = {"embeddings": (bench_embeddings, EMBEDDING_HEADER, 1_000_000),
                                "hashes": (bench_hashes, HASH_HEADER, 200_000),
                                "noise": (bench_noise, NOISE_HEADER, 10_000_000)}[args.part]
    args.n = default_n if args.n is None else args.n
    rows = bench(args)
    print("\n".join(header + rows))
    if args.report:
        with open(args.report, "a", encoding="utf-8") as fh:
            fh.write("\n".join([f"`python examples/bench_scale.py {' '.join(argv or sys.argv[1:])}`"
                                f" ({platform.machine()}, {os.cpu_count()} cores, labelclean "
                                f"{__version__})", "", *header, *rows, "", ""]))


if __name__ == "__main__":
    main()
