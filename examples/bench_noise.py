"""Benchmark: score 1,000,000 images x 10 classes of OOF predictions end to end.

    python examples/bench_noise.py [--n 1000000] [--classes 10] [--report reports/noise_scale.md]

Writes a labels file and an OOF CSV (``image_id`` + ``prob_<class>`` columns, 10% of the
labels wrong), then times reading and checking the CSV alone, and the whole ``run_noise``
(read, check, align, cleanlab, decisions, manifest.csv + clean.csv + summary.json).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from labelclean import __version__
from labelclean.io.dataset import Dataset, ImageRecord
from labelclean.noise.stage import run_noise
from labelclean.oof.files import read_oof


def make_files(folder: Path, n: int, k: int, seed: int) -> tuple[Path, Path, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    given = np.where(rng.random(n) < 0.1, (true + rng.integers(1, k, n)) % k, true)
    alpha = np.full((n, k), 0.3, dtype=np.float32)
    alpha[np.arange(n), true] = np.where(rng.random(n) < 0.1, 1.0, 8.0)
    probs = rng.gamma(alpha).astype(np.float32)
    probs /= probs.sum(axis=1, keepdims=True)
    ids = np.char.add(np.char.add("img_", np.char.zfill(np.arange(n).astype(str), 7)), ".jpg")
    labels = folder / "train.csv"
    pacsv.write_csv(pa.table({"image_id": ids, "label": given.astype(str)}), labels)
    columns = {"image_id": ids, **{f"prob_{c}": np.round(probs[:, c], 6) for c in range(k)}}
    oof = folder / "oof.csv"
    pacsv.write_csv(pa.table(columns), oof)
    return labels, oof, given


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--report", type=Path, default=Path("reports/noise_scale.md"))
    args = parser.parse_args(argv)
    n, k = args.n, args.classes
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        labels, oof, given = make_files(folder, n, k, seed=0)
        make_s = time.perf_counter() - start
        size_mb = oof.stat().st_size / 1e6
        records = [ImageRecord(image_id=f"img_{i:07d}.jpg", path=f"img_{i:07d}.jpg",
                               label=int(g)) for i, g in enumerate(given.tolist())]
        dataset = Dataset(root=folder, records=records, kind="csv", classes=list(range(k)),
                          labels_file=labels)
        start = time.perf_counter()
        table = read_oof(oof, dataset.classes)
        read_s = time.perf_counter() - start
        del table
        start = time.perf_counter()
        run = run_noise(folder / "wd", dataset, [oof])
        total_s = time.perf_counter() - start
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        counts = run.result.counts()["action"]
    lines = [
        "# Noise stage at scale", "",
        f"`python examples/bench_noise.py --n {n} --classes {k}`", "",
        "| step | seconds |", "|---|---|",
        f"| read + check the OOF CSV ({n:,} x {k}, {size_mb:,.0f} MB, pyarrow) | {read_s:.1f} |",
        (f"| whole `run_noise`: read, check, align, cleanlab, decide, write 3 files | "
         f"{total_s:.1f} |"), "",
        (f"{run.result.n_label_issues:,} label issues; actions: "
         + ", ".join(f"{a} {c:,}" for a, c in counts.items()) + "."),
        (f"Peak memory of the process (including the benchmark's own copies): {peak_gb:.1f} "
         f"GB. Making the input files took {make_s:.1f} s (not counted). No index.csv or "
         "duplicates.csv: every image readable, no groups."), "",
        (f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
         f"{platform.python_version()}, labelclean {__version__}, {time.strftime('%Y-%m-%d')}."),
    ]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
