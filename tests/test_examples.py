"""Every example runs, on tiny data, so none of them can rot."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def example(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))

    def load(name: str):
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    return load


def test_cassava_walkthrough(example, tmp_path, capsys):
    out = example("cassava_walkthrough").main(["--out", str(tmp_path), "--n-images", "150"])
    printed = capsys.readouterr().out
    for step in ("init", "scan", "dedupe", "noise --oof my_oof.csv", "report",
                 "apply --manifest reviewed.csv"):
        assert f"$ labelclean {step}" in printed
    train = pd.read_csv(out / "train.csv", dtype=str)
    clean = pd.read_csv(out / ".labelclean" / "clean.csv", dtype=str)
    reviewed = pd.read_csv(out / "reviewed.csv", dtype=str, keep_default_na=False)
    assert list(clean.columns) == list(train.columns)
    dropped = set(reviewed.loc[reviewed["action"] == "drop", "image_id"])
    assert dropped and dropped.isdisjoint(clean["image_id"])
    assert (out / ".labelclean" / "report" / "index.html").exists()
