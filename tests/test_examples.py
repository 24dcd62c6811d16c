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


def test_imagefolder_walkthrough(example, tmp_path, capsys):
    out = example("imagefolder_walkthrough").main(["--out", str(tmp_path), "--n-images", "120",
                                                  "--epochs", "2"])
    printed = capsys.readouterr().out
    assert "$ labelclean run --skip embed" in printed
    for stage in ("scan", "dedupe", "oof", "noise", "report"):
        assert f"\n  {stage} " in printed, stage
    clean = pd.read_csv(out / ".labelclean" / "clean.csv", dtype=str)
    assert list(clean.columns) == ["image_id", "label"]
    assert clean["image_id"].str.match(r"^(zero|one|two|three|four|five|six|seven|eight|nine)/")\
        .all()
    assert (clean["image_id"].str.split("/").str[0] == clean["label"]).mean() > 0.5


def test_python_api(example, tmp_path):
    results = example("python_api").main(["--out", str(tmp_path), "--n-images", "120"])
    noise, oof = results["noise"], results["oof"]
    assert oof.probs.shape[1] == 10
    assert set(noise.manifest["action"]) <= {"keep", "relabel", "drop", "review"}
    assert len(results["duplicates"]) > 0
    assert results["report"].path.exists()
