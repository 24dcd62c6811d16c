"""Regenerate ``reports/benchmarks.md``: every headline figure of the project, in one run.

    python examples/benchmark.py [--skip dedupe-scale,report] [--out reports/benchmarks.md]

Runs, one after another on this machine:

* ``demo``: the whole pipeline on the demo dataset, scored against its injected truth
  (duplicate pair precision/recall, label-issue precision/recall/F1, relabel accuracy);
* ``scan``: ``examples/bench_scan.py`` (files/s on 2,000 photo-sized JPEGs);
* ``dedupe``: ``examples/bench_dedupe.py`` (scan + dedupe against imagededup's PHash, side
  by side; needs ``pip install imagededup``, else it is reported as not run);
* ``dedupe-scale``: ``examples/bench_dedupe_scale.py`` (200,000 x 512 embeddings);
* ``embed``: ``examples/bench_embed.py`` (whole embed stage against forward-only);
* ``noise``: ``examples/bench_noise.py`` (1,000,000 x 10 OOF);
* ``report``: ``examples/bench_report.py`` (50,000 flagged images in headless Chromium);
* ``oof``: ``examples/eval_oof.py`` (both ways ``labelclean oof`` makes an OOF, then
  ``labelclean noise``, scored on the demo; fast mode's seconds for 20,000 embeddings);
* ``train``: ``examples/bench_train.py`` (``labelclean train --compare`` on digits with 40%
  and 20% + 20% label noise: held-out accuracy and seconds of each training recipe).

cleanvision and fastdup join the dedupe comparison when ``BENCH_OTHER_PYTHON`` names the
python of an environment that has them (they pin older numpy and pillow than labelclean).

Each script also writes its own report beside this one; this file gathers them with the
machine, the versions and the date.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {  # name: (script, arguments, the report it writes)
    "scan": ("bench_scan.py", ["--out", "{out}"], "scan.md"),
    # these two append rows to their report: they get a fresh file in the temp folder
    "dedupe": ("bench_dedupe.py", ["--out", "{tmp}/bench-dedupe", "--report", "{out}"],
               "{tmp}/dedupe_speed.md"),
    "dedupe-scale": ("bench_dedupe_scale.py", ["--out", "{tmp}/bench-scale", "--report",
                                               "{out}"], "{tmp}/dedupe_scale.md"),
    "embed": ("bench_embed.py", ["--out", "{out}"], "embed.md"),
    "noise": ("bench_noise.py", ["--report", "{out}"], "noise_scale.md"),
    "report": ("bench_report.py", ["--out", "{out}"], "report.md"),
    "oof": ("eval_oof.py", ["--data", "{tmp}/oof-demo", "--report", "{out}"], "oof.md"),
    "train": ("bench_train.py", ["--out", "{tmp}/bench-train", "--report", "{out}"],
              "train.md"),
}


def machine() -> str:
    packages = ["labelclean", "torch", "timm", "cleanlab", "faiss-cpu", "imagehash",
                "scikit-learn", "numpy", "pandas", "pillow"]
    versions = ", ".join(f"{p} {version(p)}" for p in packages)
    return (f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}; {versions}; "
            f"{time.strftime('%Y-%m-%d')}")


def demo_section(tmp: Path) -> str:
    from labelclean.demo.run import run_demo

    start = time.perf_counter()
    result = run_demo(tmp / "demo")
    seconds = time.perf_counter() - start
    rows = "\n".join(f"| {name} | {value:.3f} |" for name, value in result.scores.items())
    return ("## Detection quality on the demo dataset\n\n"
            "`labelclean demo` (1,797 digit photos + 180 copies + 2 broken files, 11.9% "
            f"wrong labels); whole pipeline {seconds:.0f} s on this machine.\n\n"
            f"| score against the injected truth | value |\n| --- | ---: |\n{rows}\n")


def script_section(name: str, tmp: Path, out_dir: Path) -> str:
    script, args, report = SCRIPTS[name]
    target = out_dir / report.format(tmp=tmp)
    argv = [a.format(out=target, tmp=tmp) for a in args]
    done = subprocess.run([sys.executable, str(HERE / script), *argv], text=True,
                          capture_output=True, cwd=HERE.parent)
    if done.returncode != 0 or not target.exists():
        why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"## {name}\n\nnot run: {why[0]}\n"
    text = target.read_text().strip()
    body = text.split("\n", 1)[1] if text.startswith("# ") else text  # drop its own title
    return f"## {name}: `python examples/{script}`\n\n{body.strip()}\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", default="", help="comma-separated: demo, " +
                        ", ".join(SCRIPTS))
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks.md"))
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    tmp = Path(tempfile.mkdtemp(prefix="lc-bench-"))
    sections = [f"# labelclean benchmarks\n\nMachine: {machine()}.\n\n"
                "Regenerate with `python examples/benchmark.py`.\n"]
    if "demo" not in skip:
        print("demo ...", flush=True)
        sections.append(demo_section(tmp))
    for name in SCRIPTS:
        if name not in skip:
            print(f"{name} ...", flush=True)
            sections.append(script_section(name, tmp, args.out.parent))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(sections))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
