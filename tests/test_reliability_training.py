"""Reliability (issue 12): training is checked, and many small classes stay in bounded memory.

* A learning rate that is not finite, or out of range, is refused before any work; a loss
  that becomes NaN or blows up stops the run with one error naming the likely cause; OOF
  no better than chance is a warning in ``oof`` and in ``noise``.
* Thousands of classes: ``summary.json`` keeps the K x K matrices as their largest cells,
  the printed per-class table and cleanlab's per-class warnings are one screen, the report
  draws the noisiest classes; an image alone in its class is left out of ``oof.csv`` and
  kept, unjudged, by ``noise``; when every class has fewer images than folds, fewer folds.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelclean.errors import ConfigError, TrainingError

FAST = ("--epochs", "1", "--folds", "3", "--image-size", "16")


def files_of(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its modification time (ns)."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")
            if p.is_file()}


@pytest.fixture(autouse=True)
def user_files(small_demo):
    """No test here may change a user file of the demo (images, labels file, truth)."""
    before = {p: p.read_bytes() for p in sorted(small_demo.root.rglob("*")) if p.is_file()}
    yield
    after = {p: p.read_bytes() for p in sorted(small_demo.root.rglob("*")) if p.is_file()}
    assert after == before


@pytest.fixture
def project(small_demo, tmp_path, cli):
    """The small demo, copied, initialised and scanned in ``tmp_path``; no test may change
    the copy's images or labels file."""
    data = tmp_path / "data"
    shutil.copytree(small_demo.root, data)
    assert cli("init", "--images", data / "train_images", "--labels",
               data / "labels.csv").exit_code == 0
    assert cli("scan").exit_code == 0
    before = {q: q.read_bytes() for q in sorted(data.rglob("*")) if q.is_file()}
    yield data
    assert {q: q.read_bytes() for q in sorted(data.rglob("*")) if q.is_file()} == before


def tiny_dataset(root: Path, labels: list[str], cli, size: int = 8) -> Path:
    """One small PNG per label ('' = unlabeled), a labels file, init and scan."""
    images = root / "img"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(len(labels)):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            images / f"{i:05d}.png")
    pd.DataFrame({"image_id": [f"{i:05d}.png" for i in range(len(labels))],
                  "label": labels}).to_csv(root / "labels.csv", index=False)
    assert cli("init", "--images", images, "--labels", root / "labels.csv").exit_code == 0
    assert cli("scan").exit_code == 0, "scan"
    return root


# -- (5) training is checked ---------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (("--lr", "inf"), "Error: Invalid value for '--lr': Input should be less than or equal "
                      "to 10"),
    (("--lr", "nan"), "Error: Invalid value for '--lr'"),
    (("--lr", "3e3"), "Error: Invalid value for '--lr': Input should be less than or equal "
                      "to 10"),
    (("--lr", "0"), "Error: --lr must be a positive, finite number, not 0; try --lr 0.003 "
                    "(the default)"),
    (("--epochs", "0"), "Error: Invalid value for '--epochs': Input should be greater than "
                        "or equal to 1"),
    (("--batch-size", "0"), "Error: Invalid value for '--batch-size': Input should be "
                            "greater than or equal to 1"),
])
def test_bad_training_options_are_refused_before_any_work(project, cli, tmp_path, args,
                                                          message):
    before = files_of(tmp_path / ".labelclean")
    result = cli("oof", *FAST, *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    assert files_of(tmp_path / ".labelclean") == before  # nothing written, nothing torn


def test_bad_learning_rate_in_the_project_file_and_from_python(project, cli, tmp_path):
    from labelclean.train.loop import TrainConfig

    toml = tmp_path / "labelclean.toml"
    toml.write_text(toml.read_text() + "\n[oof]\nlr = inf\n")
    result = cli("oof")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: labelclean.toml: [oof] lr must be between 0 and 10, not inf")
    for lr in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ConfigError, match=r"^`lr` must be a positive, finite number, "
                                              r"not (nan|inf|-1); try `lr` 0.003"):
            TrainConfig(lr=lr).resolved()


def test_a_diverging_loss_stops_the_run_naming_the_learning_rate():
    """From Python: lr 3000 blows the loss up at once; a far larger one makes it NaN."""
    import torch

    from labelclean.oof.stage import out_of_fold_probs
    from labelclean.train.loop import TrainConfig

    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 255, (60, 3, 12, 12), dtype=np.uint8))
    labels = np.arange(60) % 3
    config = TrainConfig(image_size=12, epochs=2, batch_size=16, lr=3e3)
    with pytest.raises(TrainingError, match=r"^`lr` 3000 is too large: the loss grew from "
                                            r"\S+ to \S+ in fold 1, epoch 1; try `lr` 0.003$"):
        out_of_fold_probs(images, labels, np.arange(60), n_folds=3, train_config=config)
    config.lr = 1e9
    with pytest.raises(TrainingError, match=r"^`lr` 1e\+09 is too large: the loss became nan "
                                            r"in fold 1, epoch 1; try `lr` 0.003$"):
        out_of_fold_probs(images, labels, np.arange(60), n_folds=3, train_config=config)


def test_divergence_through_the_cli_is_one_error_and_writes_nothing(project, cli, tmp_path,
                                                                    monkeypatch):
    """lr 10 (allowed) multiplies the demo's loss by ~80 in its first epoch; with the
    threshold lowered to 20x that is a divergence, as a 1000x blow-up is by default."""
    import labelclean.train.loop as loop

    monkeypatch.setattr(loop, "LOSS_GROWTH", 20.0)
    before = files_of(tmp_path / ".labelclean")
    result = cli("oof", *FAST, "--lr", "10")
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"Error: --lr 10 is too large: the loss grew from \S+ to \S+ in "
                        r"fold 1, epoch 1; try --lr 0.003", last), last
    after = files_of(tmp_path / ".labelclean")
    assert not (tmp_path / ".labelclean/oof.csv").exists()
    assert {k: v for k, v in after.items() if not k.startswith("stages/")} == {
        k: v for k, v in before.items() if not k.startswith("stages/")}


def test_chance_level_oof_is_a_warning_in_oof_and_in_noise(project, cli, tmp_path):
    result = cli("oof", *FAST, "--lr", "10")  # trains, but learns nothing
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warning) == 1 and re.fullmatch(
        r"Warning: the out-of-fold predictions agree with the given labels on \S+% of 360 "
        r"images, not clearly more than chance \(\S+%: always answering the most common "
        r"class\): they say nothing about which labels are wrong; 'labelclean noise' would "
        r"relabel or drop images on their word: try more --epochs, a smaller --lr or "
        r"--pretrained weights", warning[0]), warning
    noise = cli("noise")
    assert noise.exit_code == 0, noise.output
    assert ("not clearly more than chance" in noise.stderr
            and "make better predictions ('labelclean oof' with more epochs, a smaller lr "
                "or pretrained weights) before applying the manifest" in noise.stderr)
    summary = json.loads((tmp_path / ".labelclean/summary.json").read_text())
    manifest = pd.read_csv(tmp_path / ".labelclean/manifest.csv")
    assert summary["counts"]["action"] == manifest["action"].value_counts().reindex(
        ["keep", "relabel", "drop", "review"], fill_value=0).to_dict()
    config = tmp_path / "labelclean.toml"  # the same settings from the project file
    config.write_text(config.read_text() + "\n[oof]\nepochs = 1\nfolds = 3\nimage_size = 16\n"
                      "lr = 10\n")
    run = cli("run", "--stages", "oof,noise")  # run shows each stage's warnings too
    assert run.exit_code == 0, run.output
    warnings = [ln for ln in run.stderr.splitlines() if ln.startswith("Warning:")]
    assert len(warnings) == 2 and "try more [oof] epochs, a smaller [oof] lr" in warnings[0]


def test_noise_warns_when_every_prediction_names_one_class(project, cli, tmp_path):
    """The symptom of a collapsed model: noise relabels most images to one class."""
    assert cli("oof", *FAST).exit_code == 0
    table = pd.read_csv(tmp_path / ".labelclean/oof.csv", dtype={"image_id": str})
    classes = [c for c in table.columns if c not in ("image_id", "label", "fold")]
    table[classes] = 0.0
    table["3"] = 1.0
    table.to_csv(tmp_path / "collapsed.csv", index=False)
    result = cli("noise", "--oof", tmp_path / "collapsed.csv")
    assert result.exit_code == 0
    found = re.search(r"Warning: the out-of-fold predictions agree with the given labels on "
                      r"\S+% of 360 images, not clearly more than chance .*?; (\d+) relabel "
                      r"and (\d+) drop decisions rest on them", result.stderr)
    assert found, result.stderr
    manifest = pd.read_csv(tmp_path / ".labelclean/manifest.csv")
    assert int(found.group(1)) == (manifest["action"] == "relabel").sum() > 150


def test_chance_level_is_what_the_most_common_class_scores():
    from labelclean.oof.result import chance_level

    balanced = np.full(10, 100)
    assert chance_level(0.11, balanced) == pytest.approx(0.1)  # 1/K, within the margin
    assert chance_level(0.30, balanced) is None
    skewed = np.array([900, 50, 50])
    assert chance_level(0.90, skewed) == pytest.approx(0.9)  # always answering class 0
    assert chance_level(0.97, skewed) is None
    assert chance_level(0.5, np.array([10])) is None  # one class: nothing to compare


# -- (7) many classes, small classes -------------------------------------------------------

def many_classes(root: Path, n_images: int, n_classes: int, cli) -> np.ndarray:
    """``n_images`` images, image i of class i % K (names c00000, ...), scanned, and an
    OOF .npy (N, K) in labels-file order where most given labels look right."""
    labels = np.arange(n_images) % n_classes
    tiny_dataset(root, [f"c{c:05d}" for c in labels], cli)
    rng = np.random.default_rng(1)
    probs = rng.random((n_images, n_classes), dtype=np.float32)
    probs[np.arange(n_images), labels] += 0.05 * n_classes
    probs[::7] = rng.random((len(probs[::7]), n_classes), dtype=np.float32)  # some wrong
    np.save(root / "oof.npy", probs / probs.sum(axis=1, keepdims=True))
    return labels


def test_two_thousand_classes_of_one_image_stay_small(cli, tmp_path):
    many_classes(tmp_path, 2000, 2000, cli)
    oof = cli("oof", "--epochs", "1")
    assert oof.exit_code == 1
    assert oof.output.strip().splitlines()[-1] == (
        f"Error: {tmp_path / '.labelclean/index.csv'} has 2,000 readable, labeled images, "
        "each alone in its class: no model can predict an image out of fold without other "
        "images of its class; give classes at least 2 images (or bring your own "
        "predictions to 'labelclean noise')")
    result = cli("noise", "--oof", tmp_path / "oof.npy")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) < 60  # the per-class table is one screen
    assert ("  ... and 1,970 more classes, none with more label issues (every class: "
            "noise_rate_per_class in") in result.stdout
    few = [w for w in result.stderr.splitlines() if "cleanlab cannot flag" in w]
    assert few == ["Warning: cleanlab cannot flag a wrong label in the 2,000 classes with at "
                   "most one scored image (c00000, c00001, c00002, ...); labels there are "
                   "only sent to review by --review-threshold"]
    assert "UserWarning" not in result.stderr
    wd = tmp_path / ".labelclean"
    assert (wd / "summary.json").stat().st_size < 1_000_000  # not 4,000,000 numbers
    summary = json.loads((wd / "summary.json").read_text())
    for name in ("confident_joint", "noise_matrix"):
        doc = summary[name]
        assert doc["shape"] == [2000, 2000] and len(doc["classes"]) == 2000
        assert "matrix" not in doc and len(doc["cells"]) <= 2000 + 10_000
    manifest = pd.read_csv(wd / "manifest.csv")
    assert len(manifest) == 2000 and len(pd.read_csv(wd / "clean.csv")) == (
        manifest["action"] != "drop").sum()
    report = cli("report")
    assert report.exit_code == 0, report.output
    assert (wd / "report/assets/figures/noise_matrix.png").exists()
    html = (wd / "report/index.html").read_text()
    assert "The 30 highest of 2,000 classes; every class is in summary.json." in html


def test_an_image_alone_in_its_class_is_left_out_of_oof_and_kept_by_noise(cli, tmp_path):
    tiny_dataset(tmp_path, ["a"] * 12 + ["b"] * 12 + ["c"], cli, size=16)
    result = cli("oof", *FAST)
    assert result.exit_code == 0, result.output
    assert ("  note: 1 image is the only labeled image of its class (class c), so no model "
            "can predict it out of fold: left out of oof.csv, and 'labelclean noise' keeps "
            "it unjudged") in result.stdout
    table = pd.read_csv(tmp_path / ".labelclean/oof.csv", dtype={"image_id": str})
    assert len(table) == 24 and "00024.png" not in set(table["image_id"])
    assert list(table.columns)[3:] == ["a", "b", "c"]
    noise = cli("noise")
    assert noise.exit_code == 0, noise.output
    assert ("Warning: 1 image is the only labeled image of its class and has no out-of-fold "
            "prediction (first: 00024.png): kept, unjudged") in noise.stderr
    manifest = pd.read_csv(tmp_path / ".labelclean/manifest.csv", keep_default_na=False,
                           dtype=str).set_index("image_id")
    assert manifest.loc["00024.png", ["action", "suggested_label", "label_quality"]].tolist(
        ) == ["keep", "", ""]
    rates = json.loads((tmp_path / ".labelclean/summary.json").read_text())[
        "noise_rate_per_class"]
    assert rates["c"] == 0.0  # no scored image: nothing estimated wrong (not 100%)


def test_every_class_smaller_than_the_folds_makes_fewer_folds(cli, tmp_path):
    tiny_dataset(tmp_path, [f"k{i % 20}" for i in range(40)], cli, size=16)
    result = cli("oof", "--epochs", "1", "--image-size", "16")  # --folds 5 by default
    assert result.exit_code == 0, result.output
    assert ("  note: every class has fewer than 5 images (the largest has 2): made 2 folds "
            "instead of --folds 5") in result.stdout
    table = pd.read_csv(tmp_path / ".labelclean/oof.csv")
    assert sorted(table["fold"].unique()) == [0, 1]
    for _, group in table.groupby("label"):  # each class is spread over both folds
        assert sorted(group["fold"]) == [0, 1]


def test_fold_errors_for_python_callers():
    from labelclean.oof.folds import make_folds, usable_folds

    with pytest.raises(ConfigError, match=r"^`folds` = 5 needs a class with at least 5 "
                                          r"images, but the largest class has 2; use "
                                          r"`folds` 2 or fewer$"):
        make_folds(np.arange(40) % 20, np.arange(40), n_folds=5)
    with pytest.raises(ConfigError, match=r"the largest class has 1; give some class a "
                                          r"second image$"):
        make_folds(np.arange(10), np.arange(10), n_folds=2)
    assert usable_folds(np.arange(40) % 20, 5)[0] == 2
    assert usable_folds(np.arange(40) % 4, 5) == (5, "")


# -- hostile cases of our own ----------------------------------------------------------------

def test_a_single_class_is_said_to_teach_nothing(cli, tmp_path):
    tiny_dataset(tmp_path, ["a"] * 12, cli, size=16)
    result = cli("oof", *FAST)
    assert result.exit_code == 0, result.output
    assert "Out-of-fold probabilities for 12 images, 1 class, 3 folds" in result.stdout
    assert ("Warning: every image in oof.csv has the same label (a): no prediction can tell "
            "a wrong label from a right one, so 'labelclean noise' will find none; label "
            "images of the other classes too") in result.stderr
    noise = cli("noise")
    assert noise.exit_code == 0, noise.output
    assert "Warning: every scored image has the same given label" in noise.stderr
    assert "UserWarning" not in noise.stderr  # sklearn's one-label confusion matrix
    assert set(pd.read_csv(tmp_path / ".labelclean/manifest.csv")["action"]) == {"keep"}


def test_one_labeled_image_and_too_many_folds_fail_before_any_work(cli, tmp_path):
    tiny_dataset(tmp_path, ["a"] + [""] * 9, cli)
    result = cli("oof", "--epochs", "1")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {tmp_path / '.labelclean/index.csv'} has a single readable, labeled image: "
        "no model can predict an image out of fold without other images of its class; give "
        "classes at least 2 images (or bring your own predictions to 'labelclean noise')")
    assert not (tmp_path / ".labelclean/oof.csv").exists()


def test_more_folds_than_images_is_refused_before_training(cli, tmp_path):
    tiny_dataset(tmp_path, ["a", "b"] * 5, cli)
    before = files_of(tmp_path / ".labelclean")
    result = cli("oof", "--folds", "50", "--epochs", "1")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: --folds = 50 needs at least 50 images, but only 10 can be predicted; use "
        "fewer folds")
    assert files_of(tmp_path / ".labelclean") == before


def test_identical_oof_rows_are_chance_level(project, cli, tmp_path):
    assert cli("oof", *FAST).exit_code == 0
    table = pd.read_csv(tmp_path / ".labelclean/oof.csv", dtype={"image_id": str})
    classes = [c for c in table.columns if c not in ("image_id", "label", "fold")]
    table[classes] = 1 / len(classes)
    table.to_csv(tmp_path / "flat.csv", index=False)
    result = cli("noise", "--oof", tmp_path / "flat.csv")
    assert result.exit_code == 0, result.output
    assert ("not clearly more than chance" in result.stderr
            and "no label was changed on their word" in result.stderr)


# -- the matrices ----------------------------------------------------------------------------

def test_sparse_noise_matrix_is_cleanlabs_and_the_block_picks_the_noisiest():
    from cleanlab.count import compute_confident_joint, estimate_latent

    from labelclean.noise.matrices import dense_block, matrix_document, noise_matrix_cells

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 8, 400)
    probs = rng.dirichlet(np.ones(8), 400)
    probs[np.arange(400), labels] += 1.0
    probs /= probs.sum(axis=1, keepdims=True)
    joint = compute_confident_joint(labels, probs)
    _, expected, _ = estimate_latent(joint, labels)
    rows, cols, values = noise_matrix_cells(joint)
    got = np.zeros_like(expected)
    got[rows, cols] = values
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    cells = np.nonzero(joint)
    doc = matrix_document(list(range(8)), (*cells, joint[cells]), None, 3)
    block, classes, sums = dense_block(doc, 3)
    dense = dense_block({"classes": list(range(8)), "matrix": joint.tolist()}, 3)
    assert classes == dense[1] and len(classes) == 3
    np.testing.assert_allclose(block, dense[0], atol=1e-3)
    np.testing.assert_allclose(sums, joint.sum(axis=1)[classes], atol=1e-2)
    off = joint - np.diag(np.diag(joint))
    noisiest = np.argsort(-(off.sum(0) + off.sum(1)), kind="stable")[:3]
    assert classes == sorted(noisiest.tolist())


@pytest.mark.slow
def test_ten_thousand_classes_of_one_image_fit_in_a_few_gigabytes(cli, tmp_path):
    """The issue's case: before, noise grew past 24 GB; now about 5 GB (cleanlab's dense
    K x K confident joint and its copies are what remains)."""
    many_classes(tmp_path, 10_000, 10_000, cli)
    code = ("import resource, sys; from labelclean.cli.main import main; sys.argv = "
            "['labelclean', 'noise', '--oof', 'oof.npy']\ntry:\n    main()\nexcept SystemExit "
            "as e:\n    assert not e.code, e.code\nprint(resource.getrusage("
            "resource.RUSAGE_SELF).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    peak_gb = int(done.stdout.strip().splitlines()[-1]) / 1e6
    assert peak_gb < 8, peak_gb
    assert (tmp_path / ".labelclean/summary.json").stat().st_size < 5_000_000


def test_non_finite_predictions_are_an_error_not_an_empty_oof_csv(project, cli, tmp_path,
                                                                  monkeypatch):
    import labelclean.train.loop as loop

    real = loop.predict_probs
    monkeypatch.setattr(loop, "predict_probs",
                        lambda *a, **k: np.full_like(real(*a, **k), np.nan))
    result = cli("oof", *FAST)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: 360 of 360 out-of-fold predictions are not finite (NaN), so nothing was "
        "written; try a smaller --lr, or recompute the embeddings ('labelclean embed "
        "--force')")
    assert not (tmp_path / ".labelclean/oof.csv").exists()
