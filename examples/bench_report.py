"""Report speed: thumbnails per second, build time, and first gallery paint in Chromium.

    python examples/bench_report.py [--n 50000] [--photos 2000] [--out reports/report.md]

1. Makes thumbnails of ``--photos`` synthetic 512x384 JPEGs with every core.
2. Builds the report of a work directory with ``--n`` flagged images (synthetic findings).
3. Opens it in headless Chromium (best of 3) and times the first paint of the gallery,
   the page's size, its DOM size, and a filter change over all ``--n`` images.

Needs chromium and chromedriver on the PATH (or in /usr/bin) and selenium.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelclean import __version__  # noqa: E402
from labelclean.demo.data import make_photo_folder  # noqa: E402
from labelclean.report.build import build_report  # noqa: E402
from labelclean.report.thumbnails import make_thumbnails  # noqa: E402
from tests.browser import chromium, open_report  # noqa: E402
from tests.reportfiles import write_synthetic_findings  # noqa: E402


def bench_thumbnails(n: int, tmp: Path) -> dict:
    photos = make_photo_folder(tmp / "photos", n)
    images = {p.name: p for p in photos}
    start = time.perf_counter()
    _, stats = make_thumbnails(images, tmp / "thumbs", workers=None)
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    _, again = make_thumbnails(images, tmp / "thumbs", workers=None)
    reuse = time.perf_counter() - start
    size = sum(f.stat().st_size for f in (tmp / "thumbs").glob("*.jpg")) / max(stats.made, 1)
    return {"n": n, "seconds": elapsed, "per_s": stats.made / elapsed, "reuse_s": reuse,
            "reused": again.reused, "kb": size / 1024}


def bench_page(n: int, tmp: Path, repeats: int = 3) -> dict:
    work, images = tmp / "work", tmp / "images"
    write_synthetic_findings(work, images, n)
    start = time.perf_counter()
    result = build_report(work, images)
    build = time.perf_counter() - start
    paints, in_page, filters = [], [], []
    with chromium() as driver:
        for _ in range(repeats):
            paints.append(open_report(driver, result.path))
            in_page.append(driver.execute_script("return window.LABELCLEAN_READY.firstPaintMs"))
            start = time.perf_counter()
            driver.execute_script("const s = document.getElementById('f-action'); "
                                  "s.value = 'drop'; s.dispatchEvent(new Event('change'));")
            filters.append(time.perf_counter() - start)
        nodes = driver.execute_script("return document.getElementsByTagName('*').length")
    assets = result.path.parent / "assets"
    return {"n": n, "build_s": build, "paint_s": min(paints), "paint_page_ms": min(in_page),
            "filter_s": min(filters), "nodes": nodes,
            "html_kb": result.path.stat().st_size / 1024,
            "data_mb": (assets / "data.js").stat().st_size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="flagged images")
    parser.add_argument("--photos", type=int, default=2_000, help="JPEGs to thumbnail")
    parser.add_argument("--out", type=Path, default=None, help="write a markdown report")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        thumbs = bench_thumbnails(args.photos, Path(tmp))
        page = bench_page(args.n, Path(tmp))
    cores = os.cpu_count()
    text = f"""# Report speed

`python examples/bench_report.py --n {args.n} --photos {args.photos}`

| step | result |
|---|---|
| thumbnails of {thumbs['n']:,} JPEG 512x384 ({cores} workers) | {thumbs['seconds']:.2f} s, {thumbs['per_s']:,.0f}/s, {thumbs['kb']:.1f} KB each |
| same thumbnails again (up to date, reused) | {thumbs['reuse_s']:.2f} s |
| build the report of {page['n']:,} flagged images | {page['build_s']:.2f} s |
| first gallery paint in headless Chromium (best of 3, from navigation) | {page['paint_s']:.2f} s ({page['paint_page_ms']:.0f} ms in-page) |
| filter all {page['n']:,} by decision and redraw | {page['filter_s'] * 1000:.0f} ms |
| index.html / assets/data.js | {page['html_kb']:.1f} KB / {page['data_mb']:.1f} MB |
| DOM elements after first paint | {page['nodes']:,} |

The page renders one page of cards (48) whatever the number of findings; thumbnails
load lazily; the data file grows with the manifest, the page and the DOM do not.

Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}, \
labelclean {__version__}, {time.strftime('%Y-%m-%d')}.
"""
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
