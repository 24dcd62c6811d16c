"""Run the demo pipeline with an older commit and with this checkout; compare every file.

A refactor that keeps behaviour leaves the demo's work directory the same, file for file:
this script shows it. It exports ``--ref`` (a git commit of this repository) to a temporary
folder, installs it there without dependencies (the current environment's are used), runs
``labelclean demo`` once with each, and compares every file the two runs wrote: bytes for
CSV, NumPy, image and HTML files; JSON after leaving out what may differ between two runs
(timestamps, durations, versions, absolute paths of the temporary folders).

    python examples/compare_demo_files.py --ref 9243abb [--n-images 300]

Prints one line per file that differs (none: the runs are identical) and exits 1 if any.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: JSON keys whose values differ between two runs of the same code: times, versions, and
#: fingerprints of input paths and modification times
VOLATILE = {"finished_at", "seconds", "version", "versions", "elapsed", "inputs", "files",
            "report_id"}
#: the same in text files: the report's generation time and id
VOLATILE_TEXT = (re.compile(r"generated \d{4}-\d\d-\d\d \d\d:\d\d"),
                 re.compile(r'"report_id":\s*"[0-9a-f]+"'))
DEMO = ("import sys; from labelclean.cli.main import main; "
        "sys.argv = ['labelclean', 'demo', '--out', sys.argv[1]] + sys.argv[2:]; main()")


def export_and_install(ref: str, tmp: Path) -> Path:
    """``ref``'s tree installed (no dependencies) into a folder; returns that folder."""
    tree, site = tmp / "tree", tmp / "site"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(tree)], check=True)
    return site


def run_demo(out: Path, site: Path | None, extra: list[str]) -> str:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    done = subprocess.run([sys.executable, "-c", DEMO, str(out), *extra], env=env,
                          capture_output=True, text=True, cwd=out.parent)
    if done.returncode != 0:
        raise SystemExit(f"demo failed ({'old' if site else 'new'}):\n{done.stderr}")
    return done.stdout


def _stable(value, roots: tuple[str, ...]):
    if isinstance(value, dict):
        return {k: _stable(v, roots) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v, roots) for v in value]
    if isinstance(value, str):
        for root in roots:
            value = value.replace(root, "<run>")
        return value
    return value


def differs(a: Path, b: Path, roots: tuple[str, ...]) -> bool:
    if a.suffix == ".json":
        return _stable(json.loads(a.read_text()), roots) != _stable(json.loads(b.read_text()),
                                                                    roots)
    if a.suffix in (".html", ".js", ".csv", ".toml"):
        text_a, text_b = a.read_text(errors="replace"), b.read_text(errors="replace")
        for root in roots:
            text_a, text_b = text_a.replace(root, "<run>"), text_b.replace(root, "<run>")
        for pattern in VOLATILE_TEXT:
            text_a, text_b = pattern.sub("<volatile>", text_a), pattern.sub("<volatile>", text_b)
        return text_a != text_b
    if a.suffix == ".pt":  # torch checkpoints: the same tensors and values, not bytes
        return not _same_checkpoint(a, b)
    return not filecmp.cmp(a, b, shallow=False)


def _same(x, y) -> bool:
    import numpy as np
    import torch

    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_same(x[k], y[k])
                                                                     for k in x)
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and torch.equal(x, y)
    if isinstance(x, np.ndarray):
        return isinstance(y, np.ndarray) and np.array_equal(x, y)
    return x == y


def _same_checkpoint(a: Path, b: Path) -> bool:
    import torch

    return _same(torch.load(a, weights_only=False), torch.load(b, weights_only=False))


def compare(old: Path, new: Path) -> list[str]:
    """One line per file that is missing on one side or differs."""
    files_old = {p.relative_to(old) for p in old.rglob("*") if p.is_file()}
    files_new = {p.relative_to(new) for p in new.rglob("*") if p.is_file()}
    roots = (str(old.resolve()), str(new.resolve()), str(old), str(new))
    lines = [f"only in the old run: {p}" for p in sorted(files_old - files_new)]
    lines += [f"only in the new run: {p}" for p in sorted(files_new - files_old)]
    lines += [f"differs: {p}" for p in sorted(files_old & files_new)
              if differs(old / p, new / p, roots)]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, help="git commit to compare against")
    parser.add_argument("--n-images", type=int, default=None,
                        help="original images of the demo (default: all 1,797)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="folder to keep both runs in (old/, new/) for a closer look")
    args = parser.parse_args(argv)
    extra = ["--n-images", str(args.n_images)] if args.n_images else []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        site = export_and_install(args.ref, tmp)
        (tmp / "a").mkdir()
        (tmp / "b").mkdir()
        printed_old = run_demo(tmp / "a" / "demo", site, extra)
        printed_new = run_demo(tmp / "b" / "demo", None, extra)
        lines = compare(tmp / "a" / "demo", tmp / "b" / "demo")
        n_files = sum(1 for p in (tmp / "b" / "demo").rglob("*") if p.is_file())
        if args.keep is not None:
            import shutil

            shutil.copytree(tmp / "a" / "demo", args.keep / "old", dirs_exist_ok=True)
            shutil.copytree(tmp / "b" / "demo", args.keep / "new", dirs_exist_ok=True)
    for line in lines:
        print(line)
    print(f"{n_files} files compared; {len(lines)} differ or are missing")
    for name, printed in (("old", printed_old), ("new", printed_new)):
        print(f"{name} run, " + printed[printed.index("Against the injected truth"):].split(
            "cleaned labels")[0].rstrip())
    return 1 if lines else 0


if __name__ == "__main__":
    raise SystemExit(main())
