"""Label issues: agreement with cleanlab, per-image decisions, the files, apply, the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from labelclean.errors import ManifestError, MissingStageError
from labelclean.io.dataset import load_dataset
from labelclean.io.formats import MANIFEST_COLUMNS
from labelclean.noise.manifest import apply_manifest
from labelclean.noise.stage import find_noise, run_noise

from .noisefiles import demo_oof, read_truth, truth_duplicates


@pytest.fixture(scope="module")
def scanned(small_demo, tmp_path_factory):
    """The small demo scanned once, with an OOF file and duplicates.csv beside it."""
    from labelclean.scan.stage import scan_dataset

    base = tmp_path_factory.mktemp("noise")
    dataset = load_dataset(small_demo.images, small_demo.labels)
    scan_dataset(dataset, base / "wd", workers=1)
    demo_oof(small_demo).to_csv(base / "oof.csv", index=False)
    truth_duplicates(small_demo).to_csv(base / "duplicates.csv", index=False)
    return base


@pytest.fixture
def work(scanned, small_demo, tmp_path):
    """(dataset, workdir, oof path) with a fresh copy of the scanned work directory."""
    shutil.copytree(scanned / "wd", tmp_path / "wd")
    return load_dataset(small_demo.images, small_demo.labels), tmp_path / "wd", scanned / "oof.csv"


def f1(flags: np.ndarray, truth: np.ndarray) -> float:
    tp = (flags & truth).sum()
    return 2 * tp / max(flags.sum() + truth.sum(), 1)


# -- agreement with cleanlab ----------------------------------------------------------------

@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "both", "confident_learning"])
def test_issues_equal_cleanlabs_own(work, filter_by):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    dataset, wd, oof = work
    result = run_noise(wd, dataset, [oof], filter_by=filter_by).result
    table = result.table[result.table["scored"]]
    probs = pd.read_csv(oof, dtype={"image_id": str}).set_index("image_id").loc[
        table["image_id"], [str(c) for c in range(10)]].to_numpy()
    labels = table["given_label"].to_numpy(int)
    expected = find_label_issues(labels, probs, filter_by=filter_by)
    np.testing.assert_array_equal(table["is_label_issue"].to_numpy(bool), expected)
    np.testing.assert_allclose(table["label_quality"], get_label_quality_scores(labels, probs),
                               atol=1e-6)
    assert expected.sum() > 10
    assert result.n_label_issues == expected.sum()


def test_duplicate_evidence_does_not_lower_f1(work, scanned, small_demo):
    dataset, wd, oof = work
    truth = read_truth(small_demo).set_index("image_id")
    alone = run_noise(wd, dataset, [oof]).result.table
    shutil.copy(scanned / "duplicates.csv", wd / "duplicates.csv")
    joined = run_noise(wd, dataset, [oof]).result.table
    noisy = truth.loc[alone["image_id"], "label_noise"].to_numpy(bool)
    assert f1(joined["label_wrong"].to_numpy(bool), noisy) >= f1(
        alone["is_label_issue"].to_numpy(bool), noisy) > 0.5
    copies = set(truth_duplicates(small_demo).query("not keep")["image_id"])
    dropped = joined.loc[joined["reason"].str.contains("duplicate_copy"), "image_id"]
    assert set(dropped) == copies
    assert (joined.loc[joined["image_id"].isin(copies), "action"] == "drop").all()
    relabel = joined[joined["action"] == "relabel"]
    true = truth.loc[relabel["image_id"], "true_label"].astype(str).to_numpy()
    assert len(relabel) > 10
    assert (relabel["suggested_label"].astype(str).to_numpy() == true).mean() >= 0.9


# -- decisions, on a hand-made case ------------------------------------------------------------

def hand_case():
    """Twelve images, 3 classes; ``predicted_neq_given`` makes cleanlab's flag predictable."""
    ids = [f"i{i}" for i in range(12)]
    labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1, 2]
    index = pd.DataFrame({"image_id": ids, "path": [f"{i}.jpg" for i in ids],
                          "label": pd.Series(labels, dtype=object), "readable": True,
                          "error": ""})
    probs = np.tile([0.9, 0.05, 0.05], (12, 1))
    for i, lab in enumerate(labels):
        probs[i] = np.roll([0.9, 0.05, 0.05], lab)
    probs[0] = [0.05, 0.9, 0.05]   # wrong, confident in 1 -> relabel
    probs[1] = [0.2, 0.45, 0.35]   # wrong, nobody confident -> drop
    probs[3] = [0.06, 0.5, 0.44]   # right, quality 0.5 -> keep
    probs[4] = [0.3, 0.35, 0.35]   # right (a tie goes to the first class, 1): keep
    probs[5] = [0.46, 0.08, 0.46]  # argmax 0 != 1: flagged, 0.46 < 0.7 -> drop
    index.loc[6, ["readable", "error"]] = [False, "empty file (0 bytes)"]
    return index, probs


def test_each_action_and_reason():
    index, probs = hand_case()
    index.loc[9, "label"] = 0
    dups = pd.DataFrame({"group_id": ["g1", "g1", "g2", "g2"], "image_id": ["i7", "i8", "i10",
                                                                            "i11"],
                         "label": ["2", "2", "1", "2"], "keep": ["True", "False", "True",
                                                                 "False"],
                         "method": "phash", "score": "0.97",
                         "label_conflict": ["False", "False", "True", "True"]})
    probs[10] = [0.1, 0.1, 0.8]
    probs[11] = [0.1, 0.3, 0.6]  # consensus of g2: class 2 at 0.7 -> i10 relabelled to 2
    result = find_noise(index, probs, [0, 1, 2], dups, filter_by="predicted_neq_given",
                        review_threshold=0.1)
    t = result.table.set_index("image_id")
    assert list(result.manifest.columns) == MANIFEST_COLUMNS
    assert t.loc["i0", ["action", "suggested_label", "reason"]].tolist() == [
        "relabel", 1, "label_issue"]
    assert t.loc["i1", ["action", "reason"]].tolist() == ["drop", "label_issue"]
    assert t.loc["i5", ["action", "reason"]].tolist() == ["drop", "label_issue"]
    assert t.loc["i6", ["action", "reason", "suggested_label"]].tolist() == [
        "drop", "unreadable:empty_file", ""]
    assert np.isnan(t.loc["i6", "label_quality"])
    assert t.loc["i8", ["action", "reason", "duplicate_group"]].tolist() == [
        "drop", "duplicate_copy", "g1"]
    assert t.loc["i7", ["action", "reason", "duplicate_group"]].tolist() == ["keep", "", "g1"]
    assert t.loc["i10", ["action", "suggested_label", "reason"]].tolist() == [
        "relabel", 2, "label_conflict;label_issue"]
    assert t.loc["i11", ["action", "reason"]].tolist() == ["drop",
                                                           "duplicate_copy;label_conflict"]
    assert t.loc["i2", ["action", "reason", "suggested_label"]].tolist() == ["keep", "", 0]
    assert bool(t.loc["i10", "label_wrong"]) and not bool(t.loc["i11", "label_wrong"])
    assert result.counts()["action"] == {"keep": 5, "relabel": 2, "drop": 5, "review": 0}


def test_unconfident_conflict_goes_to_review_and_low_quality_to_review():
    index, probs = hand_case()
    dups = pd.DataFrame({"group_id": ["g"] * 2, "image_id": ["i9", "i10"], "label": ["0", "1"],
                         "keep": ["True", "True"], "method": "phash", "score": "0.9",
                         "label_conflict": ["True", "True"]})
    probs[9] = [0.5, 0.4, 0.1]
    probs[10] = [0.4, 0.5, 0.1]
    probs[3] = [0.04, 0.48, 0.48]  # given 1, a tie goes to 1: unflagged, quality 0.48
    probs[4] = [0.02, 0.49, 0.49]  # unflagged, quality 0.49
    result = find_noise(index, probs, [0, 1, 2], dups, filter_by="predicted_neq_given",
                        review_threshold=0.485)
    t = result.table.set_index("image_id")
    assert t.loc["i9", ["action", "reason"]].tolist() == ["review", "label_conflict"]
    assert t.loc["i10", ["action", "reason"]].tolist() == ["review", "label_conflict"]
    assert t.loc["i3", ["action", "reason"]].tolist() == ["review", "low_confidence"]
    assert t.loc["i4", ["action", "reason"]].tolist() == ["keep", ""]


def test_bad_method_and_threshold_errors():
    from labelclean.errors import ConfigError, RegistryError

    index, probs = hand_case()
    with pytest.raises(RegistryError) as exc:
        find_noise(index, probs, [0, 1, 2], filter_by="magic")
    assert str(exc.value) == (
        "unknown `filter_by` method 'magic'; choose one of: both, confident_learning, "
        "low_normalized_margin, low_self_confidence, predicted_neq_given, prune_by_class, "
        "prune_by_noise_rate")
    with pytest.raises(ConfigError) as exc:
        find_noise(index, probs, [0, 1, 2], relabel_threshold=1.5)
    assert str(exc.value) == "`relabel_threshold` must lie in [0, 1], got 1.5"


# -- the files --------------------------------------------------------------------------------

def test_files_written_and_clean_round_trips_through_apply(work, small_demo, tmp_path):
    dataset, wd, oof = work
    run = run_noise(wd, dataset, [oof])
    manifest = pd.read_csv(run.manifest, dtype=str, keep_default_na=False)
    assert list(manifest.columns) == MANIFEST_COLUMNS
    quality = pd.to_numeric(manifest["label_quality"].replace("", None))
    assert quality.dropna().between(0, 1).all()
    assert set(manifest.loc[quality.isna(), "reason"]) == {"unreadable:empty_file",
                                                           "unreadable:truncated_image_data"}
    raw = pd.read_csv(small_demo.labels, dtype=str, keep_default_na=False)
    clean = pd.read_csv(run.clean, dtype=str, keep_default_na=False)
    assert list(clean.columns) == list(raw.columns)
    by_id = manifest.set_index("image_id")
    assert set(clean["image_id"]) == set(by_id.index[by_id["action"] != "drop"])
    relabel = by_id[by_id["action"] == "relabel"]
    assert len(relabel) > 0
    assert (clean.set_index("image_id").loc[relabel.index, "label"]
            == relabel["suggested_label"]).all()
    review = by_id.index[by_id["action"] == "review"]
    assert (clean.set_index("image_id").loc[review, "label"]
            == raw.set_index("image_id").loc[review, "label"]).all()
    applied = apply_manifest(run.manifest, dataset, wd, out=tmp_path / "again.csv")
    assert applied.path.read_bytes() == run.clean.read_bytes()
    assert applied.rows_out == len(clean) and applied.not_in_manifest == 0


def test_summary_shape(work):
    dataset, wd, oof = work
    run = run_noise(wd, dataset, [oof])
    summary = json.loads(run.summary.read_text())
    assert list(summary) == ["counts", "noise_rate_per_class", "noise_matrix",
                             "confident_joint", "n_label_issues", "parameters", "versions",
                             "quality"]
    assert set(summary["counts"]) == {"action", "reason"}
    assert sum(summary["counts"]["action"].values()) == len(run.result.table)
    assert list(summary["noise_rate_per_class"]) == [str(c) for c in range(10)]
    matrix = np.array(summary["noise_matrix"]["matrix"])
    assert summary["noise_matrix"]["classes"] == list(range(10)) and matrix.shape == (10, 10)
    np.testing.assert_allclose(matrix.sum(axis=0), 1.0, atol=1e-4)  # P(given | true)
    joint = np.array(summary["confident_joint"]["matrix"])  # rows given, columns true
    rates = np.array(list(summary["noise_rate_per_class"].values()))
    np.testing.assert_allclose(1 - np.diag(joint) / joint.sum(axis=1), rates, atol=1e-3)
    assert summary["n_label_issues"] == run.result.n_label_issues
    assert summary["counts"]["reason"]["unreadable:empty_file"] == 1
    assert {"cleanlab", "labelclean"} <= set(summary["versions"])
    assert summary["parameters"]["filter_by"] == "prune_by_noise_rate"


def test_imagefolder_clean_has_path_ids(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    for cls in ("cat", "dog"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(20):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
                tmp_path / "data" / cls / f"{i}.png")
            rows.append((f"{cls}/{i}.png", cls))
    probs = np.array([[0.9, 0.1] if c == "cat" else [0.1, 0.9] for _, c in rows])
    probs[0] = [0.05, 0.95]  # cat/0.png looks like a dog
    oof = pd.DataFrame({"image_id": [p for p, _ in rows], "prob_cat": probs[:, 0],
                        "prob_dog": probs[:, 1]})
    oof.to_csv(tmp_path / "oof.csv", index=False)
    dataset = load_dataset(tmp_path / "data")
    run = run_noise(tmp_path / "wd", dataset, [tmp_path / "oof.csv"],
                    filter_by="predicted_neq_given")
    clean = pd.read_csv(run.clean, dtype=str)
    assert list(clean.columns) == ["image_id", "label"]
    assert clean.set_index("image_id").loc["cat/0.png", "label"] == "dog"
    assert len(clean) == 40


def test_no_oof_anywhere(work):
    dataset, wd, _ = work
    with pytest.raises(MissingStageError) as exc:
        run_noise(wd, dataset)
    assert str(exc.value) == (
        f"no out-of-fold predictions: {wd}/oof.csv does not exist; make one with 'labelclean "
        "oof', or bring your own: set oof (CSV or Parquet with image_id and one "
        "probability column per class, or a .npy (N, K) in labels-file order)")


def test_oof_csv_in_workdir_is_the_default(work):
    dataset, wd, oof = work
    shutil.copy(oof, wd / "oof.csv")
    assert run_noise(wd, dataset).oof_sources == [str(wd / "oof.csv")]


# -- apply: each edit error ---------------------------------------------------------------------

@pytest.fixture
def noised(work):
    dataset, wd, oof = work
    run_noise(wd, dataset, [oof])
    return dataset, wd, pd.read_csv(wd / "manifest.csv", dtype=str, keep_default_na=False)


def apply_error(noised, tmp_path, edit) -> str:
    dataset, wd, manifest = noised
    edit(manifest)
    path = tmp_path / "edited.csv"
    manifest.to_csv(path, index=False)
    with pytest.raises(ManifestError) as exc:
        apply_manifest(path, dataset, wd)
    return str(exc.value).replace(str(path), "EDITED")


def test_apply_unknown_id(noised, tmp_path):
    def edit(m):
        m.loc[0, "image_id"] = "nope.jpg"
    assert apply_error(noised, tmp_path, edit) == (
        "manifest EDITED: 1 image ids are not in the labels file (first: nope.jpg); apply a "
        "manifest made for this dataset")


def test_apply_unknown_action(noised, tmp_path):
    def edit(m):
        m.loc[[1, 2], "action"] = "delete"
    first = noised[2].loc[1, "image_id"]
    assert apply_error(noised, tmp_path, edit) == (
        f"manifest EDITED: unknown action 'delete' on 2 rows (first: {first}, "
        f"{noised[2].loc[2, 'image_id']}); use one of keep, relabel, drop, review")


def test_apply_relabel_without_label(noised, tmp_path):
    def edit(m):
        m.loc[3, ["action", "suggested_label"]] = ["relabel", ""]
    assert apply_error(noised, tmp_path, edit) == (
        f"manifest EDITED: 1 rows say relabel but have no suggested_label (first: "
        f"{noised[2].loc[3, 'image_id']}); fill in the new label or change the action")


def test_apply_relabel_to_unknown_class(noised, tmp_path):
    def edit(m):
        m.loc[4, ["action", "suggested_label"]] = ["relabel", "eleven"]
    assert apply_error(noised, tmp_path, edit) == (
        f"manifest EDITED: 1 rows relabel to a class that does not exist (first: "
        f"{noised[2].loc[4, 'image_id']} -> 'eleven'); classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9")


def test_apply_person_edits_and_partial_manifest(noised, tmp_path):
    dataset, wd, manifest = noised
    keep_id, drop_id = manifest.loc[5, "image_id"], manifest.loc[6, "image_id"]
    edited = manifest.iloc[5:].copy()  # a partial export: missing rows refused, or with
    edited.loc[5, ["action", "suggested_label"]] = [" Relabel ", "3"]  # partial, as decided
    edited.loc[6, "action"] = "drop"
    edited.to_csv(tmp_path / "edited.csv", index=False)
    with pytest.raises(ManifestError, match="has no row for 5 of the"):
        apply_manifest(tmp_path / "edited.csv", dataset, wd)
    result = apply_manifest(tmp_path / "edited.csv", dataset, wd, partial=True)
    clean = pd.read_csv(result.path, dtype=str).set_index("image_id")
    assert clean.loc[keep_id, "label"] == "3"
    assert drop_id not in clean.index
    assert result.from_workdir == 5 and result.not_in_manifest == 0
    first = manifest.iloc[:5].set_index("image_id")  # as the work directory's manifest says
    assert not set(first.index[first["action"] == "drop"]) & set(clean.index)
    kept = first.index[first["action"].isin(["keep", "review"])]
    raw = pd.read_csv(dataset.labels_file, dtype=str).set_index("image_id")
    assert (clean.loc[kept, "label"] == raw.loc[kept, "label"]).all()


# -- the CLI ------------------------------------------------------------------------------------

def cli_args(small_demo, wd):
    return ["--images", small_demo.images, "--labels", small_demo.labels, "--workdir", wd]


def test_cli_noise_and_apply(cli, work, small_demo, tmp_path):
    _, wd, oof = work
    result = cli("noise", *cli_args(small_demo, wd), "--oof", oof)
    assert result.exit_code == 0, result.output
    assert "label issues" in result.output and "worst labels" in result.output
    assert "noise rate" in result.output
    applied = cli("apply", *cli_args(small_demo, wd), "--manifest", wd / "manifest.csv",
                  "--out", tmp_path / "clean2.csv")
    assert applied.exit_code == 0, applied.output
    assert (tmp_path / "clean2.csv").read_bytes() == (wd / "clean.csv").read_bytes()


def test_cli_without_oof(cli, work, small_demo):
    _, wd, _ = work
    result = cli("noise", *cli_args(small_demo, wd))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: no out-of-fold predictions: {wd}/oof.csv does not exist; make one with "
        "'labelclean oof', or bring your own: set oof (CSV or Parquet with image_id and "
        "one probability column per class, or a .npy (N, K) in labels-file order)")


def test_cli_validation_error_and_warning(cli, work, small_demo, tmp_path):
    _, wd, oof = work
    frame = pd.read_csv(oof, dtype={"image_id": str})
    frame.loc[0, "3"] = -0.5
    frame.to_csv(tmp_path / "neg.csv", index=False)
    result = cli("noise", *cli_args(small_demo, wd), "--oof", tmp_path / "neg.csv")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: OOF file {tmp_path / 'neg.csv'}: 1 rows hold negative values (first: id "
        f"'{frame.loc[0, 'image_id']}', -0.5); probabilities must be >= 0; if the file holds "
        "logits, set --logits")
    result = cli("noise", *cli_args(small_demo, wd), "--oof", oof, "--logits")
    assert result.exit_code == 0
    assert "Warning: " in result.stderr and "--logits is set but" in result.stderr


def test_cli_ensemble_of_two_files(cli, work, small_demo, tmp_path):
    _, wd, oof = work
    frame = pd.read_csv(oof, dtype={"image_id": str}).drop(columns=["label", "fold"])
    frame.columns = ["image_id"] + [f"pred_{c}" for c in range(10)]
    frame.to_parquet(tmp_path / "b.parquet")
    result = cli("noise", *cli_args(small_demo, wd), "--oof", oof, "--oof",
                 tmp_path / "b.parquet", "--ensemble", "weighted")
    assert result.exit_code == 0, result.output
    assert "weighted, weights" in result.output
    bad = cli("noise", *cli_args(small_demo, wd), "--oof", oof, "--rank-by", "vibes")
    assert bad.exit_code == 1
    assert bad.stderr.strip() == ("Error: unknown --rank-by method 'vibes'; choose one of: "
                                  "confidence_weighted_entropy, normalized_margin, "
                                  "self_confidence")


def test_cli_help(cli):
    import re

    common = {"--images", "--labels", "--workdir", "--config", "--help"}
    for name, summary, options in (
        ("noise", "Find wrong labels with cleanlab; write manifest.csv, clean.csv and "
                  "summary.json.",
         {"--oof", "--logits", "--ensemble", "--oof-id-col", "--filter-by", "--rank-by",
          "--relabel-threshold", "--review-threshold", "--ignore-duplicates", "--wait",
          "--drop", "--outliers-from", "--outlier-k", "--outlier-iqr"}),
        ("apply", "Write clean.csv from an edited manifest: drops removed, relabels applied.",
         {"--manifest", "--out", "--partial"}),
    ):
        result = cli(name, "--help")
        assert result.exit_code == 0
        text = result.output
        assert f"Usage: labelclean {name} [OPTIONS]" in text
        assert summary in " ".join(re.sub("[\u2500-\u257f]", " ", text).split())
        # the first word of each option row (a '*' marks a required one)
        listed = set(re.findall(r"^\W*(--[a-z][a-z-]*)", text, re.M))
        assert listed == common | options, name
