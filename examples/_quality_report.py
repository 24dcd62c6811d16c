"""Write ``reports/quality.md`` from what ``bench_quality.py`` measured."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import pandas as pd


def _pct(v: float) -> str:
    return "" if pd.isna(v) else f"{v:.2f}"


def _strength_table(ours: pd.DataFrame, theirs: pd.DataFrame | None) -> list[str]:
    lines = ["| planted | strength | images | labelclean recall | CleanVision recall |",
             "|---|---|---|---|---|"]
    for (kind, strength), row in ours.iterrows():
        other = theirs.loc[(kind, strength), "mean"] if theirs is not None else float("nan")
        lines.append(f"| {kind} | {strength} | {int(row['size'])} | {_pct(row['mean'])} | "
                     f"{_pct(other)} |")
    return lines


def _speed_lines(speed: pd.DataFrame) -> list[str]:
    lines = ["| folder | files | CPU s, one process: before | after | after / before | "
             "wall s, every core: before | after | after / before | us a file (scan_file "
             "alone): before | after | after / before |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for folder, part in speed.groupby("folder", sort=False):
        best = part.groupby("tree")[["cpu", "seconds", "us_per_file"]].min()
        cells = [f"{folder}", f"{int(part['files'].iloc[0]):,}"]
        for column, fmt in (("cpu", ".2f"), ("seconds", ".2f"), ("us_per_file", ".0f")):
            before, after = best.loc["before", column], best.loc["after", column]
            cells += [f"{before:{fmt}}", f"{after:{fmt}}", f"{after / before:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


#: how the report shows the values of flags that name a local folder or interpreter
SHOWN = {"--out": None, "--other-python": "OTHER_PYTHON", "--old-tree": "OLD_TREE",
         "--skimage-data": "SKIMAGE_DATA"}


def shown_command(script: str, argv: list[str]) -> str:
    """The command line, with local paths replaced by placeholders (``--out`` left out)."""
    words, i = [], 0
    while i < len(argv):
        flag = argv[i]
        if flag in SHOWN and i + 1 < len(argv):
            if SHOWN[flag]:
                words += [flag, SHOWN[flag]]
            i += 2
            continue
        words.append(flag)
        i += 1
    return f"`python examples/{script} " + " ".join(words) + "`"


def write_report(path: Path, out: dict, argv: list[str]) -> None:
    table = out["table"]
    lines = ["# Image-quality checks", "", shown_command("bench_quality.py", argv), "",
             "(`OTHER_PYTHON`: the interpreter of a separate environment with `pip install "
             "cleanvision scikit-image`; `OLD_TREE`: `git archive <commit> | tar -x -C "
             "OLD_TREE` of the commit before the checks.)", "",
             f"{out['n_images']:,} images: photo crops from the photographs shipped in pip "
             f"packages ({out['sources']}), each issue planted at several strengths (the "
             "weakest borderline), plus plain crops (240-400 px a side, JPEG quality "
             "60-95). labelclean flags with its default thresholds; CleanVision "
             f"{out.get('cleanvision', '(not run)')} with its defaults. Precision counts "
             "every image a check flags that was planted with another issue, or none, as a "
             "false positive.", ""]
    lines += ["| check | planted | labelclean precision | labelclean recall | "
              "CleanVision precision | CleanVision recall |", "|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        if r["check"] == "plain flagged":
            continue
        lines.append(f"| {r['check']} | {r['planted']} | {_pct(r['precision'])} | "
                     f"{_pct(r['recall'])} | {_pct(r.get('cv_precision'))} | "
                     f"{_pct(r.get('cv_recall'))} |")
    plain = table[table["check"] == "plain flagged"].iloc[0]
    lines += ["", f"Plain photos flagged by anything: labelclean {plain['recall']:.1%} of "
              f"{plain['planted']}" + (f", CleanVision {plain['cv_recall']:.1%}"
                                        if "cv_recall" in plain else "") + ".", "",
              f"Time on these images: labelclean scan {out['labelclean_seconds']:.1f} s "
              "(everything the scan does: SHA-256, hashes, thumbnails, the checks)"
              + (f", CleanVision {out['cleanvision_seconds']:.1f} s" if "cleanvision_seconds"
                 in out else "") + ".", "", "## Recall by strength", ""]
    lines += _strength_table(out["strength"], out.get("cleanvision_strength"))
    if "speed" in out:
        lines += ["", "## Scan speed, before and after the checks", "",
                  "The scan of the commit before the checks (`git archive` of it) and this "
                  "one, each in its own process, on the same folders in alternating rounds "
                  f"(best of {out['speed']['round'].nunique()}): the CPU time of a "
                  "one-process scan (least disturbed by the other jobs on the machine; it "
                  "includes each run's one-time costs, such as imports made at the first "
                  "file), the wall time with every core, and the CPU time of `scan_file` "
                  "alone per file, every import done (the per-file work).", ""]
        lines += _speed_lines(out["speed"])
    lines += ["", f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; shared with other "
              "jobs while measured, so absolute times are inflated.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
