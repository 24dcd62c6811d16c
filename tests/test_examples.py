"""Every example runs, on tiny data, so none of them can rot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def expected_clean(manifest: pd.DataFrame) -> dict[str, str]:
    """image_id -> label that ``labelclean apply`` writes for a manifest: drops left out,
    relabels applied, every other row with its given label."""
    kept = manifest[manifest["action"] != "drop"]
    label = kept["suggested_label"].where(kept["action"] == "relabel", kept["given_label"])
    return dict(zip(kept["image_id"], label))


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_cassava_walkthrough(example, tmp_path, capsys):
    out = example("cassava_walkthrough").main(["--out", str(tmp_path), "--n-images", "150"])
    printed = capsys.readouterr().out
    steps = ("init --images train_images --labels train.csv", "scan", "dedupe",
             "noise --oof my_oof.csv", "report", "apply --manifest reviewed.csv")
    assert [line[len("$ labelclean "):] for line in printed.splitlines()
            if line.startswith("$ ")] == list(steps)
    train = read(out / "train.csv")
    manifest = read(out / ".labelclean" / "manifest.csv")
    reviewed = read(out / "reviewed.csv")
    clean = read(out / ".labelclean" / "clean.csv")
    assert list(clean.columns) == list(train.columns)
    # the reviewer overruled the first drop of a wrong label: that image is kept, as given
    overruled = manifest[(manifest["action"] == "drop")
                         & manifest["reason"].str.contains("label_issue")].iloc[0]
    assert reviewed.set_index("image_id").loc[overruled["image_id"], "action"] == "keep"
    assert (reviewed["action"] != manifest["action"]).sum() == 1
    assert dict(zip(clean["image_id"], clean["label"])) == expected_clean(reviewed)
    assert overruled["image_id"] in set(clean["image_id"])
    relabelled = int((reviewed["action"] == "relabel").sum())
    assert printed.rstrip().endswith(f"train.csv: {len(train):,} rows -> clean.csv: "
                                     f"{len(clean):,} rows, {relabelled:,} of them relabelled")
    assert (out / ".labelclean" / "report" / "index.html").exists()


def test_imagefolder_walkthrough(example, tmp_path, capsys):
    out = example("imagefolder_walkthrough").main(["--out", str(tmp_path), "--n-images", "120",
                                                  "--epochs", "2"])
    printed = capsys.readouterr().out
    assert "$ labelclean run --skip embed" in printed
    for stage in ("scan", "dedupe", "oof", "noise", "report"):
        assert f"\n  {stage} " in printed, stage
    assert "\n  embed   skipped (configured)" in printed
    assert "[oof]\nepochs = 2\n" in (out / "labelclean.toml").read_text()
    clean = read(out / ".labelclean" / "clean.csv")
    assert list(clean.columns) == ["image_id", "label"]
    # the id is the image's path in the tree, the label its folder unless relabelled
    manifest = read(out / ".labelclean" / "manifest.csv")
    assert (manifest["given_label"] == manifest["image_id"].str.split("/").str[0]).all()
    assert dict(zip(clean["image_id"], clean["label"])) == expected_clean(manifest)


def test_python_api(example, tmp_path):
    results = example("python_api").main(["--out", str(tmp_path), "--n-images", "120"])
    noise, oof, duplicates = results["noise"], results["oof"], results["duplicates"]
    truth = read(tmp_path / "data" / "truth.csv")
    copies = truth[truth["duplicate_of"] != ""]
    labeled = (truth["unreadable"] != "True").sum()  # 120 originals + 30 copies
    assert oof.probs.shape == (labeled, 10) == (150, 10)
    assert sum(noise.counts()["action"].values()) == labeled
    # logistic regression on 32x32 thumbnails (seed 0): OOF accuracy 0.727 against the true
    # labels, label issues found with F1 0.655; random probabilities score about 0.1 and 0.25
    table = noise.table
    rows = truth.set_index("image_id").loc[table["image_id"]]
    assert (oof.probs.argmax(1) == rows["true_label"].astype(int).to_numpy()).mean() >= 0.6
    flagged, wrong = table["is_label_issue"].to_numpy(bool), (rows["label_noise"] == "True")
    hits = (flagged & wrong.to_numpy()).sum()
    assert 2 * hits / (flagged.sum() + wrong.sum()) >= 0.5  # F1
    # every planted copy is found with its original, and nothing else
    found = {frozenset(g) for g in duplicates.groupby("group_id")["image_id"].agg(tuple)}
    assert found == {frozenset(p) for p in zip(copies["image_id"], copies["duplicate_of"])}
    report = results["report"]
    assert report.path.is_file()
    assert (report.n_images, report.n_groups, report.n_unreadable) == (152, 30, 2)
