"""Time another tool's duplicate finder on a folder; print its groups as JSON.

Run by ``bench_dedupe.py`` with the interpreter of an environment that has the tool
(fastdup pins older numpy, pillow and scikit-learn than labelclean, so it lives apart)::

    OTHER_PYTHON -m pip install cleanvision fastdup
    OTHER_PYTHON examples/_other_dedupers.py cleanvision FOLDER WORKDIR

Prints one JSON object: ``{"tool", "version", "seconds", "groups": [[file name, ...], ...]}``.
The timing covers what a user waits for: reading the images, hashing or embedding them and
finding the duplicates, with the tool's defaults; imports are done before it starts.
"""

from __future__ import annotations

import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path


def cleanvision_groups(folder: Path, workdir: Path) -> list[list[str]]:
    from cleanvision import Imagelab

    lab = Imagelab(data_path=str(folder))
    lab.find_issues({"exact_duplicates": {}, "near_duplicates": {}}, verbose=False)
    sets = lab.info["exact_duplicates"]["sets"] + lab.info["near_duplicates"]["sets"]
    return [[Path(p).name for p in s] for s in sets]


def fastdup_groups(folder: Path, workdir: Path) -> list[list[str]]:
    import fastdup

    fd = fastdup.create(work_dir=str(workdir), input_dir=str(folder))
    fd.run(overwrite=True, verbose=False)
    components = fd.connected_components()[0]
    groups = []
    for _, members in components.groupby("component_id"):
        if len(members) > 1:
            groups.append([Path(p).name for p in members["filename"]])
    return groups


def imagededup_groups(folder: Path, workdir: Path) -> list[list[str]]:
    import logging

    from imagededup.methods import PHash

    logging.getLogger("imagededup").setLevel(logging.WARNING)
    found = PHash(verbose=False).find_duplicates(image_dir=str(folder))
    return [[a, b] for a, others in found.items() for b in others if a < b]


TOOLS = {"cleanvision": cleanvision_groups, "fastdup": fastdup_groups,
         "imagededup": imagededup_groups}


def main() -> None:
    tool, folder, workdir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    os.environ.setdefault("SENTRY_OPT_OUT", "1")  # fastdup: no telemetry (and no network)
    __import__(tool)
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    groups = TOOLS[tool](folder, workdir)
    seconds = time.perf_counter() - start
    print(json.dumps({"tool": tool, "version": version(tool), "seconds": seconds,
                      "groups": groups}))


if __name__ == "__main__":
    main()
