"""Peak memory of the scan's driver process: what holding the results costs per image.

Makes ``--images`` tiny JPEGs (once, in ``--data``), loads the dataset, then measures the
driver's resident memory (Linux ``/proc/self/status``, the decoding worker processes left
out) while ``scan_dataset`` runs, less what it was before, and extrapolates to a million
images. Two figures: the peak of all resident memory (``VmHWM``, reset after loading),
which counts the pages of a memory-mapped file the scan writes, and the peak of the
anonymous memory alone (``RssAnon``, sampled every 20 ms), the part that has to fit in RAM:
written file pages are the operating system's to drop.

    python examples/bench_scan_memory.py --images 30000 --data /tmp/scanmem --workers 2
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, n: int) -> None:
    """``n`` JPEGs of 40x32 random pixels in 10 class folders (kept between runs)."""
    if len(list(folder.glob("*/*.jpg"))) == n:
        return
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = folder / f"c{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(sub / f"{i:07d}.jpg", quality=80)


def _status(key: str) -> int:
    """A ``/proc/self/status`` figure in bytes (``VmRSS``, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


class AnonPeak:
    """The highest ``RssAnon`` seen while the ``with`` block runs (sampled in a thread)."""

    def __enter__(self) -> AnonPeak:
        self.peak, self._stop = _status("RssAnon"), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _status("RssAnon"))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _status("RssAnon"))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30000)
    parser.add_argument("--data", type=Path, default=Path("scanmem"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", default="local")
    args = parser.parse_args(argv)

    from labelclean.io.dataset import load_dataset
    from labelclean.scan.stage import scan_dataset

    make_images(args.data / "images", args.images)
    dataset = load_dataset(args.data / "images")
    Image.init()
    before, anon_before = _status("VmRSS"), _status("RssAnon")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
    start = time.perf_counter()
    with AnonPeak() as anon:
        scan_dataset(dataset, args.data / "work", workers=args.workers, force=True,
                     backend=args.backend)
    seconds = time.perf_counter() - start
    added, anon_added = _status("VmHWM") - before, anon.peak - anon_before

    def per_million(n: int) -> float:
        return round(n / len(dataset) * 1e6 / 2**30, 2)

    out = {"images": len(dataset), "rss_before_mb": round(before / 2**20, 1),
           "peak_added_mb": round(added / 2**20, 1), "peak_gb_per_million": per_million(added),
           "anon_peak_added_mb": round(anon_added / 2**20, 1),
           "anon_gb_per_million": per_million(anon_added),
           "seconds": round(seconds, 1), "backend": args.backend}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
