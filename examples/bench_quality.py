"""Image-quality checks on real photo crops with planted issues, against CleanVision, and
the scan's speed against the scan of an older labelclean, side by side.

    python examples/bench_quality.py [--out bench-quality] [--skimage-data DIR]
        [--other-python PY] [--old-tree DIR] [--rounds 3] [--report reports/quality.md]

* Builds the benchmark folder (``_quality_data.py``: crops of the photos shipped in pip
  packages, each issue planted at several strengths, plus plain crops), runs
  ``labelclean scan`` on it and scores each check: precision, recall, and the share of
  plain photos flagged (by anything).
* ``--other-python``: the interpreter of an environment with CleanVision
  (``pip install cleanvision``) runs ``_other_quality.py`` on the same images; scored the
  same way. If that environment also has scikit-image, its colour photos join the sources.
* ``--old-tree``: a folder holding an older labelclean source tree (``git archive <commit>
  | tar -x -C DIR``); its scan and this one are timed on the same folders in alternating
  rounds (each in its own process, every core), on the benchmark folder and on 2,000
  synthetic JPEGs of each ``--photo-size`` (default 512x384; repeat it, e.g. 800x600 for
  Cassava-sized photos).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quality_data import KINDS, make_quality_folder  # noqa: E402

_TIME_SCAN = """
import sys, time, tempfile, shutil
from labelclean.io.dataset import load_dataset
from labelclean.scan.stage import scan_dataset
ds = load_dataset(sys.argv[1])
work = tempfile.mkdtemp(prefix='bench-quality-')
start = time.process_time()
scan_dataset(ds, work, force=True, workers=1)
cpu = time.process_time() - start
start = time.perf_counter()
scan_dataset(ds, work, force=True)
wall = time.perf_counter() - start
from pathlib import Path
from labelclean.scan.stage import scan_file
files = sorted(str(p) for p in Path(sys.argv[1]).rglob("*") if p.is_file())
per_file = []
for _ in range(3):  # the per-file work alone, every import done, best of 3
    start = time.process_time()
    for path in files:
        scan_file(path)
    per_file.append((time.process_time() - start) / len(files) * 1e6)
print(cpu, wall, len(ds.records), min(per_file))
shutil.rmtree(work)
"""


def labelclean_issues(images: Path, work: Path) -> tuple[dict[str, list[str]], float]:
    """file name -> issues labelclean's scan flags (default thresholds), and seconds."""
    from labelclean.io.dataset import load_dataset
    from labelclean.scan.stage import scan_dataset

    start = time.perf_counter()
    result = scan_dataset(load_dataset(images), work, force=True)
    seconds = time.perf_counter() - start
    q = result.quality
    return {Path(i).name: [t for t in str(s).split(";") if t]
            for i, s in zip(q["image_id"], q["issues"].fillna(""))}, seconds


def score(truth: pd.DataFrame, found: dict[str, list[str]]) -> pd.DataFrame:
    """One row per check: planted, flagged, precision, recall; and a row ``plain flagged``."""
    rows = []
    for kind in KINDS:
        hit = truth["file"].map(lambda f, k=kind: k in found.get(f, []))
        planted = truth["kind"] == kind
        tp, fp = int((hit & planted).sum()), int((hit & ~planted).sum())
        rows.append({"check": kind, "planted": int(planted.sum()), "flagged": tp + fp,
                     "precision": tp / max(tp + fp, 1), "recall": tp / max(planted.sum(), 1)})
    plain = truth[truth["kind"] == "plain"]
    flagged = plain["file"].map(lambda f: bool(found.get(f))).mean()
    rows.append({"check": "plain flagged", "planted": len(plain),
                 "flagged": int(round(flagged * len(plain))), "precision": float("nan"),
                 "recall": flagged})
    return pd.DataFrame(rows)


def by_strength(truth: pd.DataFrame, found: dict[str, list[str]]) -> pd.DataFrame:
    """Recall per planted kind and strength."""
    planted = truth[truth["kind"] != "plain"].copy()
    planted["found"] = [k in found.get(f, []) for f, k in zip(planted["file"], planted["kind"])]
    return planted.groupby(["kind", "strength"], sort=False)["found"].agg(["size", "mean"])


def other_issues(python: str, images: Path) -> dict:
    out = subprocess.run([python, str(HERE / "_other_quality.py"), str(images)], check=True,
                         capture_output=True, text=True, env={**os.environ,
                                                              "HF_HUB_OFFLINE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def skimage_folder(python: str | None) -> Path | None:
    if not python:
        return None
    code = "import os, skimage.data as d; print(os.path.dirname(d.__file__))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return Path(out.stdout.strip()) if out.returncode == 0 else None


def time_scans(old_tree: Path, folders: list[Path], rounds: int) -> pd.DataFrame:
    """The old and the new scan on each folder, alternating which goes first: ``cpu``
    (CPU seconds of a one-process scan, least disturbed by other jobs; it includes each
    run's one-time costs, such as imports made at the first file), ``seconds`` (wall time
    with every core) and ``us_per_file`` (CPU microseconds of ``scan_file`` alone per
    file, every import done: the per-file work without the one-time costs)."""
    trees = {"before": old_tree.resolve(), "after": HERE.parent.resolve()}
    rows = []
    for folder in folders:
        for r in range(rounds):
            order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
            for name in order:
                env = {**os.environ, "PYTHONPATH": str(trees[name])}
                out = subprocess.run([sys.executable, "-c", _TIME_SCAN, str(folder)],
                                     check=True, capture_output=True, text=True, env=env,
                                     cwd=tempfile.gettempdir())
                cpu, wall, files, per_file = out.stdout.strip().splitlines()[-1].split()
                rows.append({"folder": folder.name, "tree": name, "round": r,
                             "cpu": float(cpu), "seconds": float(wall), "files": int(files),
                             "us_per_file": float(per_file)})
    return pd.DataFrame(rows)


def table_text(frame: pd.DataFrame) -> str:
    lines = ["| check | planted | labelclean P | labelclean R | CleanVision P | CleanVision R |",
             "|---|---|---|---|---|---|"]
    for _, r in frame.iterrows():
        fmt = (lambda v: "" if pd.isna(v) else f"{v:.2f}")
        lines.append(f"| {r['check']} | {r['planted']} | {fmt(r['precision'])} | "
                     f"{fmt(r['recall'])} | {fmt(r.get('cv_precision'))} | "
                     f"{fmt(r.get('cv_recall'))} |")
    return "\n".join(lines)


def _photo_size(text: str) -> tuple[int, int]:
    """``WxH`` (e.g. 800x600) as (width, height)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WxH, e.g. 800x600") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: both sides must be positive")
    return width, height


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-quality"))
    parser.add_argument("--plain", type=int, default=400)
    parser.add_argument("--per-kind", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skimage-data", type=Path, default=None)
    parser.add_argument("--other-python", default=os.environ.get("OTHER_PYTHON"))
    parser.add_argument("--old-tree", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photo-size", action="append", default=None, type=_photo_size,
                        help="WxH of the timed synthetic photos (repeatable; default 512x384)")
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args(argv)
    data = args.out / "data"
    if data.exists():
        shutil.rmtree(data)
    skimage = args.skimage_data or skimage_folder(args.other_python)
    make_quality_folder(data, plain=args.plain, per_kind=args.per_kind, seed=args.seed,
                        skimage_data=skimage)
    truth = pd.read_csv(data / "truth.csv")
    found, seconds = labelclean_issues(data / "images", args.out / "work")
    result = score(truth, found)
    out = {"labelclean_seconds": seconds, "n_images": len(truth),
           "sources": "sklearn, matplotlib" + (", scikit-image" if skimage else "")}
    if args.other_python:
        other = other_issues(args.other_python, data / "images")
        cv = score(truth, other["issues"])
        result["cv_precision"], result["cv_recall"] = cv["precision"], cv["recall"]
        out.update(cleanvision=other["version"], cleanvision_seconds=other["seconds"],
                   cleanvision_strength=by_strength(truth, other["issues"]))
    out["table"] = result
    out["strength"] = by_strength(truth, found)
    if args.old_tree:
        from labelclean.demo.data import make_photo_folder

        folders = [data / "images"]
        for width, height in args.photo_size or [(512, 384)]:
            folders.append(args.out / f"photos-{width}x{height}")
            make_photo_folder(folders[-1], 2000, size=(width, height))
        out["speed"] = time_scans(args.old_tree, folders, args.rounds)
    print(table_text(result))
    print(out["strength"].to_string())
    if "speed" in out:
        print(out["speed"].groupby(["folder", "tree"])[["cpu", "seconds", "us_per_file"]]
              .agg(["min", "median"]))
    if args.report:
        from _quality_report import write_report

        write_report(args.report, out, argv if argv is not None else sys.argv[1:])
    return out


if __name__ == "__main__":
    main()
