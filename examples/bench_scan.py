"""Scan speed on photo-sized JPEGs: files per second for ``labelclean scan``.

    python examples/bench_scan.py [--n 2000] [--workers N] [--out reports/scan.md]

Generates ``n`` synthetic 512x384 JPEGs (once, cached under the given --data folder),
scans them with every core, and writes the figure to the report file.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from labelclean import __version__
from labelclean.demo.data import make_photo_folder
from labelclean.io.dataset import load_dataset
from labelclean.scan.stage import scan_dataset


def bench(n: int, data: Path, workers: int | None, repeats: int = 3) -> dict:
    make_photo_folder(data, n)
    dataset = load_dataset(data)
    times = []
    for _ in range(repeats):
        work = Path(tempfile.mkdtemp(prefix="bench-scan-"))
        start = time.perf_counter()
        result = scan_dataset(dataset, work, workers=workers, force=True)
        times.append(time.perf_counter() - start)
        shutil.rmtree(work)
        assert result.summary["readable"] == n
    best = min(times)
    return {"n": n, "seconds": best, "files_per_s": n / best, "workers": workers or os.cpu_count()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "lc-photos")
    parser.add_argument("--out", type=Path, default=Path("reports/scan.md"))
    args = parser.parse_args(argv)
    r = bench(args.n, args.data, args.workers)
    text = (f"# Scan speed\n\n`python examples/bench_scan.py --n {args.n}`\n\n"
            f"| files | workers | best of 3 (s) | files/s |\n|---|---|---|---|\n"
            f"| {r['n']:,} JPEG 512x384 | {r['workers']} | {r['seconds']:.2f} | "
            f"{r['files_per_s']:,.0f} |\n\n"
            f"Each file: read, SHA-256, draft-mode decode, EXIF size, pHash, 32x32 thumbnail.\n\n"
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, labelclean {__version__}, "
            f"{time.strftime('%Y-%m-%d')}.\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
