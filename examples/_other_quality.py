"""Run CleanVision's image-quality checks on a folder; print its findings as JSON.

Run by ``bench_quality.py`` with the interpreter of an environment that has CleanVision
(it is not a dependency of labelclean)::

    python -m venv other && other/bin/pip install cleanvision
    other/bin/python examples/_other_quality.py FOLDER

Prints one JSON object: ``{"tool", "version", "seconds", "issues": {file name: [issue,
...]}}`` with CleanVision's own issue names (``dark``, ``light``, ``blurry``,
``low_information``, ``grayscale``, ``odd_aspect_ratio``, ``odd_size``), found with its
default thresholds; the timing covers reading the images and checking them.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

CHECKS = ("dark", "light", "blurry", "low_information", "grayscale", "odd_aspect_ratio",
          "odd_size")


def main() -> None:
    folder = Path(sys.argv[1])
    from cleanvision import Imagelab

    start = time.perf_counter()
    lab = Imagelab(data_path=str(folder))
    lab.find_issues({check: {} for check in CHECKS}, verbose=False)
    seconds = time.perf_counter() - start
    table = lab.issues
    found = {}
    for path, row in table.iterrows():
        found[Path(str(path)).name] = [c for c in CHECKS if bool(row.get(f"is_{c}_issue"))]
    print(json.dumps({"tool": "cleanvision", "version": version("cleanvision"),
                      "seconds": seconds, "issues": found}))


if __name__ == "__main__":
    main()
