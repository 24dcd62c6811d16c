"""Outliers from embeddings, quality findings in the manifest, summary and report."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from labelclean.errors import ConfigError
from labelclean.io.dataset import load_dataset
from labelclean.io.formats import read_index
from labelclean.io.qualityfile import read_quality
from labelclean.noise.outliers import knn_mean_distance, score_outliers
from labelclean.noise.stage import run_noise
from labelclean.oof.features import pooled_features, read_features, write_features

from .noisefiles import demo_oof


def clusters(n: int, far: list[int], seed: int = 0) -> np.ndarray:
    """(n, 16) points in three tight clusters, the rows ``far`` placed away from them."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (3, 16))
    x = centres[np.arange(n) % 3] + rng.normal(0, 0.05, (n, 16))
    x[far] = rng.normal(0, 1, (len(far), 16)) * 3
    return x.astype(np.float32)


def test_knn_distance_and_the_iqr_fence_find_the_far_points():
    far = [5, 50, 120]
    x = clusters(200, far)
    distance = knn_mean_distance(x, k=5)
    assert distance.shape == (200,)
    out = score_outliers(distance)
    assert sorted(np.flatnonzero(out.flagged)) == far
    assert ((out.score < 0.5) == out.flagged).all()
    assert np.all((out.score > 0) & (out.score <= 1))
    # a duplicate row is its own nearest neighbour at distance 0: not counted
    dup = np.vstack([x, x[:1]])
    assert knn_mean_distance(dup, k=1)[0] == pytest.approx(0.0, abs=1e-6)


def test_pooled_features_average_the_views_of_each_row():
    import torch
    import torch.nn as nn

    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, 3))
    x = torch.randn(5, 12)
    with pooled_features(net) as seen, torch.no_grad():
        for batch in (x[:3], x[3:]):
            net(batch)
            net(batch * 2)  # a second "view" of the same rows
    with torch.no_grad():
        hidden = (torch.relu(net[1](x)) + torch.relu(net[1](x * 2))).numpy() / 2
    np.testing.assert_allclose(seen.features(5), hidden, rtol=1e-5, atol=1e-6)
    assert not net[3]._forward_hooks  # the hook is gone after the block


@pytest.fixture(scope="module")
def scanned(small_demo, tmp_path_factory):
    from labelclean.scan.stage import scan_dataset

    base = tmp_path_factory.mktemp("quality")
    scan_dataset(load_dataset(small_demo.images, small_demo.labels), base / "wd", workers=1)
    demo_oof(small_demo).to_csv(base / "oof.csv", index=False)
    return base


@pytest.fixture
def work(scanned, small_demo, tmp_path):
    shutil.copytree(scanned / "wd", tmp_path / "wd")
    wd = tmp_path / "wd"
    index = read_index(wd)
    rows = np.flatnonzero(index["readable"].to_numpy(bool))
    far = rows[[3, 40, 77]]
    x = clusters(len(index), list(far))
    write_features(wd, index["image_id"].astype(str).tolist(), rows, x[rows], "test")
    return load_dataset(small_demo.images, small_demo.labels), wd, scanned / "oof.csv", \
        set(index["image_id"].iloc[far])


def test_outliers_are_a_review_reason_and_land_in_quality_csv(work):
    dataset, wd, oof, far = work
    run = run_noise(wd, dataset, [oof])
    quality = read_quality(wd)
    flagged = set(quality.loc[quality["issues"].str.contains("outlier", na=False),
                              "image_id"])
    lowest = set(quality.nsmallest(3, "outlier_score")["image_id"])
    assert lowest == far and far <= flagged and len(flagged) <= len(far) + 3
    assert quality["outlier_score"].notna().sum() == len(read_features(wd)[0]) - 2
    manifest = run.result.manifest.set_index("image_id")
    for image_id in far:
        assert "outlier" in manifest.loc[image_id, "reason"].split(";")
        assert manifest.loc[image_id, "action"] in ("review", "relabel", "drop")
    summary = json.loads(run.summary.read_text())
    assert summary["quality"]["issues"]["outlier"] == len(flagged)
    assert summary["counts"]["reason"]["outlier"] == len(flagged)
    assert summary["quality"]["outliers_from"].startswith("fold models' features")


def test_the_project_file_can_drop_a_finding(work):
    dataset, wd, oof, far = work
    reviewed = run_noise(wd, dataset, [oof]).result.manifest.set_index("image_id")
    dropped = run_noise(wd, dataset, [oof], quality={"drop": ["outlier"]}
                        ).result.manifest.set_index("image_id")
    keep_rule = reviewed.loc[list(far), "action"] == "review"
    assert keep_rule.any()
    assert (dropped.loc[list(far), "action"] == "drop").all()
    with pytest.raises(ConfigError, match="`drop` lists nope"):
        run_noise(wd, dataset, [oof], quality={"drop": ["nope"]})


def test_without_embeddings_no_outlier_is_scored(work):
    dataset, wd, oof, _ = work
    (wd / "oof_features.npy").unlink()
    run_noise(wd, dataset, [oof])
    quality = read_quality(wd)
    assert quality["outlier_score"].isna().all()
    assert not quality["issues"].str.contains("outlier", na=False).any()


def test_report_shows_a_section_with_examples_of_each_finding(work):
    from labelclean.report.build import build_report

    dataset, wd, oof, far = work
    run_noise(wd, dataset, [oof])
    result = build_report(wd, dataset.root, workers=1)
    page = result.path.read_text()
    assert 'id="quality"' in page and 'id="quality-outlier"' in page
    shown = [line for line in page.splitlines() if "assets/quality/" in line]
    assert len(shown) >= 3
    assert all((result.path.parent / line.split('src="')[1].split('"')[0]).exists()
               for line in shown)


@pytest.mark.parametrize("text, message", [
    ("[scan]\ndark_threshold = 2\n", "dark_threshold must be between 0 and 1"),
    ("[noise]\noutlier_k = 0\n", "outlier_k must be at least 1"),
])
def test_bad_quality_settings_are_one_clear_error(tmp_path, text, message):
    from labelclean.pipeline.stages import load_project

    (tmp_path / "labelclean.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_project(tmp_path / "labelclean.toml")


def test_quality_frame_is_index_order(work):
    _, wd, _, _ = work
    assert read_quality(wd)["image_id"].tolist() == read_index(wd)["image_id"].astype(
        str).tolist()
    assert isinstance(read_quality(wd), pd.DataFrame)


@pytest.mark.slow
def test_oof_from_train_saves_fold_features_that_noise_scores(small_demo, tmp_path, cli):
    data = tmp_path / "data"
    shutil.copytree(small_demo.root, data)
    assert cli("init", "--images", data / "train_images", "--labels",
               data / "labels.csv").exit_code == 0
    assert cli("scan").exit_code == 0
    result = cli("oof", "--from", "train", "--epochs", "1", "--folds", "3",
                 "--image-size", "16")
    assert result.exit_code == 0, result.output
    wd = tmp_path / ".labelclean"
    features, meta = read_features(wd)
    oof = pd.read_csv(wd / "oof.csv", dtype={"image_id": str})
    assert features.shape[0] == len(read_index(wd)) and meta["rows"] == len(oof)
    has = np.abs(np.asarray(features, np.float32)).sum(axis=1) > 0
    assert has.sum() == len(oof)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(features, np.float32)[has], axis=1),
                               1, atol=1e-2)
    assert cli("noise").exit_code == 0
    summary = json.loads((wd / "summary.json").read_text())
    assert summary["quality"]["outliers_from"] == "fold models' features (small_cnn)"
    assert read_quality(wd)["outlier_score"].notna().sum() == len(oof)
    assert (wd / "oof_features.npy").name in json.loads(
        (wd / "stages" / "oof.json").read_text())["outputs"]
