"""Out-of-fold probabilities: grouped folds, no leakage, losses, resume, the stage and CLI."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from labelclean.errors import ConfigError, RegistryError
from labelclean.oof import learners
from labelclean.oof.folds import duplicate_groups, make_folds
from labelclean.oof.stage import out_of_fold_probs
from labelclean.train.augment import augment_batch, get_augmentation, list_augmentations
from labelclean.train.loop import TrainConfig
from labelclean.train.losses import list_losses, make_loss, tempered_softmax

# -- folds ------------------------------------------------------------------------------


def test_duplicate_groups_join_identical_files_and_dedupe_groups_transitively():
    ids = ["a", "b", "c", "d", "e"]
    sha = ["h1", "h1", "h2", "", ""]  # a == b by content; unreadable files have no hash
    dups = pd.DataFrame({"group_id": ["7", "7", "9"], "image_id": ["b", "c", "e"]})
    groups = duplicate_groups(ids, sha, dups)
    assert groups[0] == groups[1] == groups[2]  # a-b by sha256, b-c by duplicates.csv
    assert len({groups[0], groups[3], groups[4]}) == 3  # d alone, e's group has one member
    assert sorted(set(groups)) == list(range(3))
    assert len(set(duplicate_groups(ids))) == 5  # nothing known: every image its own group


def test_work_directory_groups_join_the_related_pairs_dedupe_kept_apart(tmp_path):
    """A chain A~B~C becomes two star groups and a related pair in dedupe; for folds the
    pair is still a copy, so all three stay in one fold."""
    from labelclean.io.dedupe_files import RELATED_COLUMNS, write_related
    from labelclean.io.formats import DUPLICATES_COLUMNS, write_duplicates
    from labelclean.oof.folds import workdir_groups

    ids = ["a", "b", "c", "d"]
    dups = pd.DataFrame({c: [""] * 2 for c in DUPLICATES_COLUMNS})
    dups["group_id"], dups["image_id"] = ["1", "1"], ["a", "b"]
    write_duplicates(dups, tmp_path)
    related = pd.DataFrame({c: [""] for c in RELATED_COLUMNS})
    related["image_id"], related["other_id"], related["score"] = "b", "c", 0.99
    write_related(related, tmp_path)
    groups = workdir_groups(tmp_path, ids, ["h1", "h2", "h3", "h4"])
    assert groups[0] == groups[1] == groups[2] != groups[3]
    assert len(set(workdir_groups(tmp_path / "none", ids, None))) == 4


def test_folds_keep_groups_together_and_stay_stratified():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), [200, 120, 80, 40])
    groups = np.arange(len(labels))
    pairs = rng.choice(len(labels), size=(60, 2), replace=False)
    groups[pairs[:, 1]] = groups[pairs[:, 0]]  # 60 copies, often of another class
    folds = make_folds(labels, groups, n_folds=5, seed=3)
    for g in np.unique(groups):
        assert len(set(folds[groups == g])) == 1
    for c, n in zip(range(4), [200, 120, 80, 40]):
        per_fold = np.bincount(folds[labels == c], minlength=5)
        assert np.abs(per_fold - n / 5).max() <= 0.15 * n / 5 + 2, (c, per_fold)
    assert not np.array_equal(folds, make_folds(labels, groups, n_folds=5, seed=4))
    assert np.array_equal(folds, make_folds(labels, groups, n_folds=5, seed=3))


def test_fold_errors_say_what_to_change():
    with pytest.raises(ConfigError, match=r"^`folds` must be at least 2, not 1$"):
        make_folds(np.zeros(10), np.arange(10), n_folds=1)
    with pytest.raises(ConfigError, match=r"needs at least 5 images that are not copies of "
                                          r"each other, but found 3; use fewer folds"):
        make_folds(np.zeros(9), np.repeat(np.arange(3), 3), n_folds=5)


# -- fast mode --------------------------------------------------------------------------

class SpyLearner:
    """Remembers which rows (feature 0 is the row number) it was fitted on and asked about."""

    fitted: list[set] = []
    asked: list[set] = []

    def fit(self, x, y):
        SpyLearner.fitted.append(set(x[:, 0].astype(int)))
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, x):
        SpyLearner.asked.append(set(x[:, 0].astype(int)))
        return np.full((len(x), len(self.classes_)), 1 / len(self.classes_))


def test_each_row_is_predicted_by_a_model_that_never_saw_it_or_its_copies(monkeypatch):
    monkeypatch.setitem(learners.LEARNERS, "spy", lambda seed: SpyLearner())
    SpyLearner.fitted, SpyLearner.asked = [], []
    n = 120
    labels = np.arange(n) % 3
    groups = np.arange(n) // 2  # rows 2i and 2i+1 are copies
    features = np.arange(n, dtype=np.float64)[:, None]
    result = out_of_fold_probs(features, labels, groups, n_folds=4, learner="spy",
                               calibrate=False)
    assert len(SpyLearner.fitted) == len(SpyLearner.asked) == 4
    for k, (seen, asked) in enumerate(zip(SpyLearner.fitted, SpyLearner.asked)):
        assert not seen & asked
        assert not {g for g in groups[list(seen)]} & {g for g in groups[list(asked)]}
        assert asked == set(np.flatnonzero(result.folds == k))
        assert seen == set(result.train_rows[k])
    assert sorted(set().union(*SpyLearner.asked)) == list(range(n))


def test_logreg_oof_is_calibrated_probabilities_and_finds_flipped_labels():
    rng = np.random.default_rng(1)
    truth = np.repeat(np.arange(3), 100)
    features = rng.normal(size=(300, 5)) + 3 * np.eye(3, 5)[truth]
    given = truth.copy()
    flipped = rng.choice(300, 15, replace=False)
    given[flipped] = (truth[flipped] + 1) % 3
    for learner in ("logreg", "knn"):
        result = out_of_fold_probs(features, given, np.arange(300), n_folds=5,
                                   learner=learner, seed=0)
        assert result.probs.shape == (300, 3)
        np.testing.assert_allclose(result.probs.sum(1), 1, atol=1e-6)
        assert (result.probs.argmax(1) == truth).mean() > 0.9, learner
        p_given = result.probs[np.arange(300), given]
        assert np.median(p_given[flipped]) < 0.2 < np.median(np.delete(p_given, flipped))
        assert 0 < result.probs.min() and result.probs.max() < 1  # calibrated, never 0 or 1
    with pytest.raises(RegistryError, match=r"^unknown OOF learner 'svm'; choose one of: "
                                            r"knn, logreg$"):
        out_of_fold_probs(features, given, np.arange(300), learner="svm")


def test_class_missing_from_a_fold_gets_zero_probability_there():
    features = np.arange(40, dtype=float)[:, None]
    labels = np.array([0] * 19 + [1] * 19 + [2, 2])  # class 2: one group of two copies
    groups = np.arange(40)
    groups[39] = groups[38]
    result = out_of_fold_probs(features, labels, groups, n_folds=2, calibrate=False)
    fold_of_2 = result.folds[38]
    assert np.all(result.probs[result.folds == fold_of_2, 2] == 0)
    np.testing.assert_allclose(result.probs.sum(1), 1)


# -- losses -----------------------------------------------------------------------------

LOGITS = torch.tensor([[0.0, math.log(3.0)]])  # softmax = [1/4, 3/4]
TARGET = torch.tensor([1])


def _loss(name, **params):
    return float(make_loss(name, **params)(LOGITS, TARGET))


def test_losses_match_their_formulas_on_hand_computed_cases():
    ce = -math.log(0.75)
    assert _loss("cross_entropy") == pytest.approx(ce)
    assert _loss("label_smoothing", smoothing=0.2) == pytest.approx(
        0.8 * ce + 0.2 * (-math.log(0.25) - math.log(0.75)) / 2)
    assert _loss("taylor_cross_entropy", order=1) == pytest.approx(0.25)
    assert _loss("taylor_cross_entropy", order=2) == pytest.approx(0.25 + 0.25**2 / 2)
    assert _loss("symmetric_cross_entropy", alpha=0.1, beta=1.0) == pytest.approx(
        0.1 * ce - math.log(1e-4) * 0.25, rel=1e-5)
    # bi-tempered, t2 = 1 (plain softmax), t1 = 0.5: log_t(x) = 2 (sqrt(x) - 1)
    expected = -2 * (math.sqrt(0.75) - 1) - (1 - 0.75**1.5) / 1.5 + 0.25**1.5 / 1.5
    assert _loss("bi_tempered", t1=0.5, t2=1.0) == pytest.approx(expected, rel=1e-5)
    # focal-cosine on logits (3, 4): cos to e_1 = 0.8; p = softmax(0.6, 0.8)
    p = 1 / (1 + math.exp(-0.2))
    got = float(make_loss("focal_cosine", alpha=1, gamma=2, xi=0.1)(
        torch.tensor([[3.0, 4.0]]), TARGET))
    assert got == pytest.approx(0.2 + 0.1 * (1 - p) ** 2 * -math.log(p), rel=1e-5)


@pytest.mark.parametrize("name, params", [
    ("label_smoothing", {"smoothing": 0.0}),
    ("bi_tempered", {"t1": 1.0, "t2": 1.0}),
    ("symmetric_cross_entropy", {"alpha": 1.0, "beta": 0.0}),
    ("taylor_cross_entropy", {"order": 400}),
])
def test_losses_reduce_to_cross_entropy(name, params):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 5, generator=gen) * 0.5
    targets = torch.randint(0, 5, (8,), generator=gen)
    a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    got, want = make_loss(name, **params)(a, targets), make_loss("cross_entropy")(b, targets)
    got.backward()
    want.backward()
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-4)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-5)


def test_tempered_softmax_normalises_with_heavier_tails_and_correct_gradient():
    logits = torch.tensor([[2.0, 0.5, -1.0, -3.0]], requires_grad=True)
    p = tempered_softmax(logits, 1.5)
    assert float(p.detach().sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(p[0, 3].detach()) > float(torch.softmax(logits.detach(), 1)[0, 3])  # heavy tail
    (p[0, 0]).backward()
    eps, numeric = 1e-3, []
    for k in range(4):
        bumped = logits.detach().clone()
        bumped[0, k] += eps
        numeric.append((float(tempered_softmax(bumped, 1.5)[0, 0]) - float(p[0, 0].detach())) / eps)
    np.testing.assert_allclose(logits.grad[0].numpy(), numeric, atol=5e-3)


def test_loss_registry_and_bad_parameters():
    assert list_losses() == ["bi_tempered", "cross_entropy", "focal_cosine", "label_smoothing",
                             "symmetric_cross_entropy", "taylor_cross_entropy"]
    with pytest.raises(RegistryError, match=r"^unknown loss 'mae'; choose one of: bi_tempered, "):
        make_loss("mae")
    with pytest.raises(ConfigError, match=r"needs 0 < t1 <= 1 <= t2, got t1=1.2, t2=0.8"):
        make_loss("bi-tempered", t1=1.2, t2=0.8)


# -- augmentation -----------------------------------------------------------------------

def test_augmentation_is_seeded_and_keeps_shape_and_range():
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert list_augmentations() == ["flips", "light", "none", "strong"]
    assert torch.equal(augment_batch(x, get_augmentation("none"), torch.Generator()), x)
    for name in ("light", "strong"):
        a = augment_batch(x, get_augmentation(name), torch.Generator().manual_seed(1))
        b = augment_batch(x, get_augmentation(name), torch.Generator().manual_seed(1))
        assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
        assert a.min() >= 0 and a.max() <= 1
    assert get_augmentation("flips").tta_views() == ["none", "hflip", "vflip"]
    assert get_augmentation("light").tta_views() == ["none"]  # digits must not be flipped
    with pytest.raises(RegistryError, match=r"^unknown augmentation preset 'mixup'"):
        get_augmentation("mixup")


# -- full mode --------------------------------------------------------------------------

def _colour_images(n=48, size=12, seed=0):
    """Three classes told apart by colour: red, green, blue squares with noise."""
    gen = torch.Generator().manual_seed(seed)
    labels = np.arange(n) % 3
    images = torch.randint(0, 60, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    for i, c in enumerate(labels):
        images[i, c] += 150
    return images, labels


TINY = TrainConfig(model="small_cnn", image_size=12, epochs=2, batch_size=16, lr=1e-2,
                   augment="none", device="cpu")


def test_training_resumes_after_an_interrupted_fold_with_identical_oof(tmp_path):
    images, labels = _colour_images()
    groups = np.arange(len(labels))
    full = out_of_fold_probs(images, labels, groups, n_folds=3, seed=5, train_config=TINY,
                             checkpoint_dir=tmp_path / "a")
    assert all(not s["resumed"] for s in full.fold_scores)

    def stop_in_fold_2(done, total, description):
        if description.startswith("fold 2/3"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        out_of_fold_probs(images, labels, groups, n_folds=3, seed=5, train_config=TINY,
                          checkpoint_dir=tmp_path / "b", progress=stop_in_fold_2)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["fold0.pt"]
    steps = []
    resumed = out_of_fold_probs(images, labels, groups, n_folds=3, seed=5, train_config=TINY,
                                checkpoint_dir=tmp_path / "b",
                                progress=lambda d, t, desc: steps.append(desc))
    assert [s["resumed"] for s in resumed.fold_scores] == [True, False, False]
    assert steps[0] == "fold 1/3 (checkpoint)" and "fold 2/3 epoch 1/2" in steps
    np.testing.assert_array_equal(resumed.probs, full.probs)
    # a checkpoint of another run (other seed) is not reused
    other = out_of_fold_probs(images, labels, groups, n_folds=3, seed=6, train_config=TINY,
                              checkpoint_dir=tmp_path / "b")
    assert not any(s["resumed"] for s in other.fold_scores)


def test_trained_folds_never_see_their_validation_rows(tmp_path, monkeypatch):
    from labelclean.train import loop as training

    images, labels = _colour_images(n=60)
    groups = np.arange(60) // 3  # triples of copies
    # watch every image row each phase actually reads, whatever the bookkeeping says
    phase, reads = {"now": None}, []
    real_batches = training._batches

    def watched(name, fn):
        def run(*args, **kwargs):
            phase["now"] = name
            try:
                return fn(*args, **kwargs)
            finally:
                phase["now"] = None
        return run

    def batches(images, rows, *args):
        reads.append((phase["now"], np.asarray(rows).copy()))
        yield from real_batches(images, rows, *args)

    monkeypatch.setattr(training, "_batches", batches)
    monkeypatch.setattr(training, "train_fold", watched("train", training.train_fold))
    monkeypatch.setattr(training, "predict_probs", watched("predict", training.predict_probs))
    result = out_of_fold_probs(images, labels, groups, n_folds=3, seed=0, train_config=TINY,
                               checkpoint_dir=tmp_path)
    # per fold: TINY.epochs reads while training, then one while predicting its validation
    per_fold = TINY.epochs + 1
    assert len(reads) == 3 * per_fold
    for k in range(3):
        fold_reads = reads[k * per_fold:(k + 1) * per_fold]
        trained = np.unique(np.concatenate([r for p, r in fold_reads if p == "train"]))
        predicted = np.concatenate([r for p, r in fold_reads if p == "predict"])
        assert [p for p, _ in fold_reads] == ["train"] * TINY.epochs + ["predict"]
        np.testing.assert_array_equal(np.sort(predicted), np.flatnonzero(result.folds == k))
        assert not set(groups[trained]) & set(groups[predicted])  # no copy crossed
    for k, train in enumerate(result.train_rows):
        val = np.flatnonzero(result.folds == k)
        saved = torch.load(tmp_path / f"fold{k}.pt", weights_only=False)
        np.testing.assert_array_equal(saved["train_rows"], train)
        np.testing.assert_array_equal(saved["val_rows"], val)
        assert not set(groups[train]) & set(groups[val])
    np.testing.assert_allclose(result.probs.sum(1), 1, atol=1e-5)
    assert (result.probs.argmax(1) == labels).mean() > 0.9  # colour is easy to learn


def test_train_config_errors():
    with pytest.raises(RegistryError, match=r"^unknown model 'no_such_net'; choose one of: "
                                            r"<any timm model name>, small_cnn"):
        TrainConfig(model="no_such_net").resolved()
    with pytest.raises(ConfigError, match=r"trains from scratch; `weights` and `pretrained` "
                                          r"need a timm model"):
        from labelclean.models.classifiers import build_classifier

        build_classifier("small_cnn", 3, image_size=32, pretrained=True)
    import timm

    timm_side = timm.models.get_pretrained_cfg("resnet10t").input_size[-1]
    assert TrainConfig(model="resnet10t").resolved().image_size == timm_side
    assert TrainConfig().resolved().image_size == 32


def test_a_timm_model_trains_too():
    from labelclean.models.classifiers import build_classifier

    net, source = build_classifier("test_vit", 3, image_size=32)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 3) and source.startswith("random-init")


# -- the stage and the CLI --------------------------------------------------------------

@pytest.fixture
def project(small_demo, tmp_path, cli):
    data = tmp_path / "data"
    shutil.copytree(small_demo.root, data)
    assert cli("init", "--images", data / "train_images", "--labels",
               data / "labels.csv").exit_code == 0
    assert cli("scan").exit_code == 0
    return data


def test_cli_oof_writes_oof_csv_that_noise_reads(project, cli, tmp_path):
    result = cli("oof", "--epochs", "1", "--folds", "3", "--image-size", "16")
    assert result.exit_code == 0, result.output
    assert "from training small_cnn" in result.output and "fold 3: validation" in result.output
    table = pd.read_csv(tmp_path / ".labelclean/oof.csv", dtype={"image_id": str})
    truth = pd.read_csv(project / "truth.csv", dtype={"image_id": str})
    assert list(table.columns) == ["image_id", "label", "fold"] + [str(c) for c in range(10)]
    readable = truth.loc[~truth["unreadable"], "image_id"]
    assert sorted(table["image_id"]) == sorted(readable)
    assert table.set_index("image_id")["label"].to_dict() == truth.set_index(
        "image_id").loc[readable, "given_label"].to_dict()
    fold = table.set_index("image_id")["fold"]
    exact = truth[truth["duplicate_kind"] == "exact-bytes"]
    assert len(exact) and (fold[exact["image_id"]].to_numpy()
                           == fold[exact["duplicate_of"]].to_numpy()).all()
    folds_json = pd.read_json(tmp_path / ".labelclean/oof_folds.json", typ="series")
    assert len(folds_json["fold_scores"]) == 3
    again = cli("oof", "--epochs", "1", "--folds", "3", "--image-size", "16")
    assert "unchanged, reused" in again.output
    noise = cli("noise")
    assert noise.exit_code == 0, noise.output


def test_cli_oof_errors(project, cli):
    result = cli("oof", "--loss", "nope")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: unknown loss 'nope'; choose one of: bi_tempered, cross_entropy, focal_cosine, "
        "label_smoothing, symmetric_cross_entropy, taylor_cross_entropy")
    result = cli("oof", "--from", "pixels")
    assert result.output.strip().splitlines()[-1] == (
        "Error: --from must be auto, embeddings or train, not 'pixels'")
    result = cli("oof", "--from", "embeddings")
    assert result.exit_code == 1
    assert "; run 'labelclean embed' first" in result.output
    result = cli("oof", "--folds", "1", "--epochs", "1")
    assert result.output.strip().splitlines()[-1] == "Error: --folds must be at least 2, not 1"


def test_cli_oof_without_a_scan_says_run_scan(cli, small_demo):
    result = cli("oof", "--images", small_demo.images, "--labels", small_demo.labels)
    assert result.exit_code == 1
    assert "run 'labelclean scan' first" in result.output


@pytest.mark.slow
def test_fast_mode_from_embeddings_through_the_cli(project, cli, tmp_path):
    assert cli("embed", "--model", "test_vit", "--no-pretrained", "--image-size", "32",
               "--workers", "0").exit_code == 0
    result = cli("oof", "--from", "embeddings", "--learner", "knn")
    assert result.exit_code == 0, result.output
    assert "from embeddings (test_vit)" in result.output
    table = pd.read_csv(tmp_path / ".labelclean/oof.csv")
    np.testing.assert_allclose(table[[str(c) for c in range(10)]].sum(1), 1, atol=1e-4)


def test_auto_source_passes_random_embeddings_over_and_new_embeddings_refresh_oof(
        project, cli, tmp_path):
    from labelclean.errors import MissingStageError
    from labelclean.oof.stage import choose_source

    wd = tmp_path / ".labelclean"
    embed = ["embed", "--model", "test_vit", "--no-pretrained", "--workers", "0"]
    assert cli(*embed, "--image-size", "32").exit_code == 0
    source, note = choose_source(wd)
    assert source == "train" and "have random weights, which classify poorly" in note
    assert choose_source(wd, "auto", "test_vit") == ("embeddings", "")  # named: used
    with pytest.raises(MissingStageError, match="no embeddings for model 'nosuch'"):
        choose_source(wd, "auto", "nosuch")  # named but missing: an error, no silent training
    assert "reused" not in cli("oof", "--from", "embeddings").output
    assert "(unchanged, reused)" in cli("oof", "--from", "embeddings").output
    assert cli(*embed, "--image-size", "48").exit_code == 0  # the same model, new settings
    again = cli("oof", "--from", "embeddings", "--epochs", "3")
    assert again.exit_code == 0 and "reused" not in again.output
    assert ("note: options for --from train ignored, as this OOF came from embeddings: "
            "epochs") in again.output


def test_an_image_size_the_model_cannot_take_fails_before_training():
    from labelclean.train.loop import check_input_size

    with pytest.raises(ConfigError, match="image size must be at least 8 pixels, not 0"):
        TrainConfig(image_size=0).resolved()
    with pytest.raises(ConfigError, match=r"^model 'test_vit' cannot take 20x20 images"):
        check_input_size(TrainConfig(model="test_vit", image_size=20).resolved(), 3)
    check_input_size(TrainConfig(model="small_cnn", image_size=8).resolved(), 3)


def test_group_col_folds_keep_each_group_whole_and_follow_edits(small_demo, cli, tmp_path):
    """`--group-col`: no patient straddles folds in oof.csv; editing the column in the labels
    file makes the folds stale (oof is recomputed, not reused) and the new groups hold."""
    data = tmp_path / "data"
    shutil.copytree(small_demo.root, data)
    labels = pd.read_csv(data / "labels.csv", dtype=str)
    id_col = labels.columns[0]
    rng = np.random.default_rng(0)
    labels["patient_id"] = [f"p{k}" for k in rng.integers(0, 25, len(labels))]
    labels.to_csv(data / "labels.csv", index=False)
    assert cli("init", "--images", data / "train_images", "--labels", data / "labels.csv",
               "--group-col", "patient_id").exit_code == 0
    assert cli("scan").exit_code == 0
    assert cli("embed", "--model", "test_vit", "--no-pretrained", "--image-size", "32",
               "--workers", "0").exit_code == 0

    def folds_by_patient():
        table = pd.read_csv(tmp_path / ".labelclean/oof.csv", dtype={"image_id": str})
        patient = pd.read_csv(data / "labels.csv", dtype=str).set_index(id_col)["patient_id"]
        joined = table.assign(patient=table["image_id"].map(patient))
        assert joined["patient"].notna().all()
        return joined.groupby("patient")["fold"].nunique()

    first = cli("oof", "--from", "embeddings", "--folds", "3")
    assert first.exit_code == 0, first.output
    assert (folds_by_patient() == 1).all()
    assert "(unchanged, reused)" in cli("oof", "--from", "embeddings", "--folds", "3").output
    labels["patient_id"] = [f"q{k}" for k in rng.integers(0, 25, len(labels))]
    labels.to_csv(data / "labels.csv", index=False)
    again = cli("oof", "--from", "embeddings", "--folds", "3")
    assert again.exit_code == 0 and "reused" not in again.output
    assert (folds_by_patient() == 1).all()
