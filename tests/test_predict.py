"""`labelclean predict`: a trained model's probabilities, oof.csv's format without `fold`,
read back by `labelclean noise --oof`."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from tests.trainsetup import prepare


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from labelclean.train.compare import train_one
    from labelclean.train.options import TrainOptions

    root = tmp_path_factory.mktemp("predict")
    demo, config = prepare(root)
    run = train_one(root / "work", TrainOptions(epochs=1, device="cpu", batch_size=32))
    return root, demo, run


def test_predictions_round_trip_through_noise(trained, cli, tmp_path):
    root, demo, run = trained
    out = tmp_path / "predictions.csv"
    result = cli("predict", "--checkpoint", run.out, "--images", demo.images, "--labels",
                 demo.labels, "--out", out)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"image_id": str})
    labels = pd.read_csv(demo.labels, dtype=str)
    assert list(table.columns) == ["image_id", "label"] + [str(c) for c in range(10)]
    assert list(table["image_id"]) == list(labels["image_id"])
    probs = table[[str(c) for c in range(10)]].to_numpy()
    empty = np.isnan(probs).all(axis=1)
    assert empty.sum() == 2 and "could not be read" in result.output
    assert np.allclose(probs[~empty].sum(axis=1), 1, atol=1e-4)
    work = tmp_path / "work"
    shutil.copytree(root / "work", work)
    config = tmp_path / "labelclean.toml"
    config.write_text((root / "labelclean.toml").read_text()
                      .replace('"data/', f'"{(root / "data").as_posix()}/'))
    result = cli("noise", "--config", config, "--oof", out)
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(work / "oof_scored.csv", dtype={"image_id": str})
    ours = table.set_index("image_id").loc[scored["image_id"], "3"].to_numpy()
    assert np.allclose(scored["3"].to_numpy(), ours, atol=1e-5)


def test_a_folder_without_labels_gets_one_row_per_file(trained, cli, tmp_path):
    root, demo, run = trained
    folder = tmp_path / "new"
    folder.mkdir()
    files = sorted(demo.images.glob("*.jpg"))[:3]
    for f in files:
        shutil.copy(f, folder / f.name)
    (folder / "sub").mkdir()
    shutil.copy(files[0], folder / "sub" / "again.jpg")
    result = cli("predict", "--checkpoint", run.out / "model.pt", "--images", folder,
                 "--out", tmp_path / "p.csv", "--tta")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "p.csv")
    assert list(table["image_id"]) == sorted([f.name for f in files] + ["sub/again.jpg"])
    assert "label" not in table.columns
    first = table.set_index("image_id")
    assert np.allclose(first.loc[files[0].name], first.loc["sub/again.jpg"])


def test_predict_errors_name_the_option(trained, cli, tmp_path):
    root, demo, run = trained
    result = cli("predict", "--checkpoint", tmp_path, "--images", demo.images)
    assert result.exit_code == 1 and "--checkpoint" in result.output
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"junk")
    result = cli("predict", "--checkpoint", bogus, "--images", demo.images)
    assert result.exit_code == 1 and "cannot be read as a model" in result.output
    result = cli("predict", "--checkpoint", run.out, "--images", demo.images, "--out",
                 demo.images / "p.csv")
    assert result.exit_code == 1 and "inside the images folder" in result.output


def test_predict_never_replaces_the_projects_files(trained, cli, tmp_path):
    """With a project file in the folder, --out may not land on its labels file, in its
    images folder or on its work directory's files."""
    root, demo, run = trained
    (tmp_path / "labelclean.toml").write_text(
        f'[dataset]\nimages = "{root / "data/train_images"}"\n'
        f'labels = "{root / "data/labels.csv"}"\nworkdir = "{root / "work"}"\n')
    for target, says in ((root / "data/labels.csv", "the project's labels file"),
                         (root / "work/oof.csv", "would replace the work directory's oof.csv"),
                         (root / "data/train_images/p.csv", "inside the images folder")):
        before = target.read_bytes() if target.exists() else None
        result = cli("predict", "--checkpoint", run.out, "--images", tmp_path, "--out", target)
        assert result.exit_code == 1 and says in result.output, result.output
        assert (target.read_bytes() if target.exists() else None) == before


def test_train_out_may_not_replace_the_work_directorys_files(trained):
    from labelclean.errors import ConfigError
    from labelclean.train.compare import output_folder
    from labelclean.train.options import TrainOptions

    root, _, _ = trained
    work = root / "work"
    with pytest.raises(ConfigError, match="replace the work directory's summary.json"):
        output_folder(work, TrainOptions(out=str(work)), "ce")
    assert output_folder(work, TrainOptions(out=str(work / "mine")), "ce") == work / "mine"
    assert output_folder(work, TrainOptions(), "ce") == work / "train" / "ce"


def test_default_tta_averages_the_flips_the_model_trained_with(tmp_path):
    from labelclean.train.compare import train_one
    from labelclean.train.options import TrainOptions
    from labelclean.train.predict import predict_folder

    demo, _ = prepare(tmp_path)
    run = train_one(tmp_path / "work", TrainOptions(epochs=1, device="cpu", batch_size=32,
                                                    augment="flips"))

    def probs(tta):
        result = predict_folder(run.out, demo.images, labels=demo.labels, tta=tta,
                                device="cpu")
        assert not result.notes or all("could not be read" in n for n in result.notes)
        return result.table[[str(c) for c in result.classes]].to_numpy(float)

    default, on, off = probs(None), probs(True), probs(False)
    read = ~np.isnan(default).all(axis=1)
    assert read.sum() > 100
    assert np.allclose(default[read], on[read])  # by default, as train's held-out accuracy
    assert not np.allclose(default[read], off[read])  # the flipped views count
