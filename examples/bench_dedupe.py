"""Speed of ``labelclean`` scan + dedupe against imagededup's PHash, side by side.

Writes N photo-sized (512x384) synthetic JPEGs with planted near copies (re-compressed,
resized, brightened, byte copies), then times on the same folder, in one run:

* labelclean: ``scan_dataset`` (one draft-mode decode per image: sha256, pHash, thumbnail)
  + ``dedupe_workdir`` (exact, same-pixel, hash and thumbnail search, verification);
* imagededup: ``PHash().encode_images`` + ``find_duplicates`` (its default radius 10).

and, with ``--other-python``, cleanvision (``Imagelab`` exact + near duplicates) and
fastdup (``run`` + connected components), each with its defaults, in its own environment
(fastdup pins older numpy, pillow and scikit-learn than labelclean)::

    python -m venv other && other/bin/pip install cleanvision fastdup

Every tool uses every core. Pair precision and recall on the planted copies are reported
too. imagededup is not a dependency of labelclean; install it to run this comparison::

    pip install imagededup

Usage: python examples/bench_dedupe.py [--n 2000] [--rounds 5] [--other-python PY]
       [--imagededup-python PY]
       [--out bench-dedupe] [--report FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from labelclean.dedupe.stage import dedupe_workdir
from labelclean.demo.data import synthetic_photo
from labelclean.io.dataset import load_dataset
from labelclean.scan.stage import scan_dataset

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _cli import show  # noqa: E402


def make_folder(out: Path, n: int, copies: int, seed: int = 0) -> set[frozenset]:
    """``n`` JPEGs in ``out``, ``copies`` of them near copies of others; the true pairs."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    originals = n - copies
    for i in range(originals):
        synthetic_photo(rng).save(out / f"photo_{i:05d}.jpg", format="JPEG", quality=90)
    pairs = set()
    kinds = ("jpeg", "resize", "brightness", "bytes")
    for c, src in enumerate(rng.choice(originals, size=copies, replace=False)):
        kind = kinds[c % len(kinds)]
        source = out / f"photo_{src:05d}.jpg"
        target = out / f"copy_{c:05d}_{kind}.jpg"
        img = Image.open(source)
        if kind == "bytes":
            shutil.copyfile(source, target)
        elif kind == "jpeg":
            img.save(target, format="JPEG", quality=40)
        elif kind == "resize":
            img.resize((384, 288), Image.Resampling.BICUBIC).save(target, quality=90)
        else:
            ImageEnhance.Brightness(img).enhance(1.15).save(target, quality=90)
        pairs.add(frozenset((source.name, target.name)))
    return pairs


def pair_scores(found: set[frozenset], truth: set[frozenset]) -> tuple[float, float]:
    precision = len(found & truth) / len(found) if found else 1.0
    return precision, len(found & truth) / len(truth)


def run_labelclean(folder: Path, workdir: Path) -> tuple[float, set[frozenset]]:
    import faiss  # noqa: F401  (imported before timing, as imagededup's modules are)

    shutil.rmtree(workdir, ignore_errors=True)
    start = time.perf_counter()
    scan_dataset(load_dataset(folder), workdir, hash_methods=("phash",))
    table = dedupe_workdir(workdir).table
    seconds = time.perf_counter() - start
    found = set()
    for _, rows in table.groupby("group_id"):
        ids = rows["image_id"].tolist()
        found |= {frozenset((a, b)) for k, a in enumerate(ids) for b in ids[k + 1:]}
    return seconds, found


def run_imagededup(folder: Path) -> tuple[float, set[frozenset]]:
    from imagededup.methods import PHash

    start = time.perf_counter()
    duplicates = PHash(verbose=False).find_duplicates(image_dir=str(folder))
    seconds = time.perf_counter() - start
    found = {frozenset((a, b)) for a, others in duplicates.items() for b in others}
    return seconds, found


def run_other(python: str, tool: str, folder: Path, workdir: Path) -> tuple[float, set]:
    """Time cleanvision or fastdup in their own environment (``examples/_other_dedupers.py``)."""
    env = {**os.environ, "SENTRY_OPT_OUT": "1"}
    done = subprocess.run([python, str(HERE / "_other_dedupers.py"), tool, str(folder),
                           str(workdir / tool)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{tool} failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    found = {frozenset((a, b)) for g in result["groups"] for k, a in enumerate(g)
             for b in g[k + 1:]}
    return result["seconds"], found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed rounds")
    parser.add_argument("--other-python", default=os.environ.get("BENCH_OTHER_PYTHON"),
                        help="python of an environment with cleanvision and fastdup (they "
                             "pin older numpy/pillow than labelclean); omit to skip them")
    parser.add_argument("--imagededup-python", default=os.environ.get("BENCH_IMAGEDEDUP_PYTHON"),
                        help="python of an environment with imagededup (default: import it "
                             "here)")
    parser.add_argument("--out", type=Path, default=Path("bench-dedupe"))
    parser.add_argument("--report", type=Path, default=None, help="append a markdown row")
    args = parser.parse_args(argv)
    try:
        if not args.imagededup_python:
            import imagededup  # noqa: F401
    except ImportError:
        raise SystemExit(
            "imagededup is not installed; run 'pip install imagededup' to compare") from None
    logging.getLogger("imagededup").setLevel(logging.WARNING)
    folder = args.out / "images"
    shutil.rmtree(folder, ignore_errors=True)
    truth = make_folder(folder, args.n, args.copies)
    tools = {"labelclean scan + dedupe": lambda: run_labelclean(folder, args.out / "workdir"),
             "imagededup PHash (radius 10)": (
                 lambda: run_other(args.imagededup_python, "imagededup", folder, args.out))
             if args.imagededup_python else lambda: run_imagededup(folder)}
    if args.other_python:
        for tool in ("cleanvision", "fastdup"):
            tools[f"{tool} (defaults)"] = (lambda t=tool: run_other(args.other_python, t,
                                                                    folder, args.out))
    seconds: dict[str, list[float]] = {name: [] for name in tools}
    found: dict[str, set] = {}
    for r in range(args.rounds):  # alternate, so every tool sees the same machine state
        for name, run in tools.items():
            took, found[name] = run()
            seconds[name].append(took)
        print(f"round {r + 1}: " + ", ".join(f"{n.split()[0]} {v[-1]:.2f} s"
                                             for n, v in seconds.items()), flush=True)
    lc_name = next(iter(tools))
    ratios = {name: sorted(o / lc for o, lc in zip(v, seconds[lc_name]))
              for name, v in seconds.items()}
    rows = []
    for name in tools:
        median = float(np.median(seconds[name]))
        ratio = ratios[name][len(ratios[name]) // 2]
        precision, recall = pair_scores(found[name], truth)
        rows.append(f"| {name} | {median:.2f} | {args.n / median:,.0f} | "
                    f"{'1' if name == lc_name else f'{ratio:.2f}'} | {precision:.3f} | "
                    f"{recall:.3f} |")
    others = [n for n in tools if n != lc_name]
    header = (f"{args.n} JPEGs 512x384 ({args.copies} planted copies), {os.cpu_count()} cores, "
              f"{platform.processor() or platform.machine()}; {args.rounds} rounds, the tools "
              "alternating; median seconds; the ratio is the median of the per-round "
              "ratios (their time / labelclean's): "
              + "; ".join(f"{n.split()[0]} {', '.join(f'{x:.2f}' for x in ratios[n])}"
                          for n in others) + "\n\n"
              "| method | seconds | images/s | x labelclean's time | pair precision | "
              "pair recall |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
    text = header + "\n".join(rows) + "\n"
    show(text, args.report)


if __name__ == "__main__":
    main()
