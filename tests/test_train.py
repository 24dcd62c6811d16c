"""The train stage: the CLI end to end, exact resume, EMA/SWA, the held-out split, the
unlabeled pool, errors, --compare and the report section, and `labelclean run`."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.trainsetup import prepare, project_of


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    demo, config = prepare(root)
    return root, demo, config


@pytest.fixture
def work(prepared, tmp_path):
    """A private copy of the prepared project (the images stay shared, read-only)."""
    root, demo, _ = prepared
    shutil.copytree(root / "work", tmp_path / "work")
    text = (root / "labelclean.toml").read_text().replace(
        '"data/', f'"{(root / "data").as_posix()}/')
    (tmp_path / "labelclean.toml").write_text(text)
    return tmp_path, demo


def _options(**given):
    from labelclean.train.options import TrainOptions

    return TrainOptions(**{"epochs": 2, "batch_size": 32, "device": "cpu", **given})


def _run(workdir: Path, out: Path, progress=None, **given):
    from labelclean.train.compare import _Store
    from labelclean.train.data import load_train_data
    from labelclean.train.stage import train_config, train_run

    options = _options(**given)
    data = load_train_data(workdir, method=options.method, labels_from=options.labels_from,
                           holdout=options.holdout, seed=options.seed)
    images = _Store().images(data, train_config(options, options.method).image_size, None)
    return train_run(data, images, options, options.method, out, progress=progress)


def test_cli_trains_writes_its_files_and_says_so(work, cli):
    root, _ = work
    result = cli("train", "--config", root / "labelclean.toml", "--epochs", "2",
                 "--device", "cpu")
    assert result.exit_code == 0, result.output
    out = root / "work" / "train" / "ce"
    assert {p.name for p in out.iterdir()} >= {"model.pt", "last.pt", "metrics.csv",
                                               "summary.json"}
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2]
    assert {"loss", "heldout_accuracy", "lr", "seconds"} <= set(metrics.columns)
    assert metrics["heldout_accuracy"].between(0, 1).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["labels_from"] == "clean" and summary["n_heldout"] > 0
    assert "Trained ce on clean labels" in result.output
    assert "held-out accuracy" in result.output
    assert "ce epoch 2/2 (epoch 1: loss " in result.output  # a line per epoch in a log


def test_resume_gives_the_weights_of_an_uninterrupted_run(work):
    import torch

    root, _ = work
    wd = root / "work"
    whole = _run(wd, root / "whole", epochs=2, ema=0.9)

    class Stop(Exception):
        pass

    def stop_in_epoch_2(done, total, description=""):
        if "epoch 2/2" in description:
            raise Stop

    with pytest.raises(Stop):
        _run(wd, root / "cut", progress=stop_in_epoch_2, epochs=2, ema=0.9)
    assert (root / "cut" / "last.pt").exists() and not (root / "cut" / "model.pt").exists()
    cut = {k.removeprefix("module."): v for k, v in torch.load(
        root / "cut" / "last.pt", weights_only=False)["step"]["ema"].items()}
    resumed = _run(wd, root / "cut", epochs=2, ema=0.9, resume=True)
    assert resumed.summary["resumed_at_epoch"] == 2
    a = torch.load(root / "whole" / "model.pt", weights_only=False)["members"][0]
    b = torch.load(root / "cut" / "model.pt", weights_only=False)["members"][0]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    drop = ["seconds"]
    assert (pd.DataFrame(whole.metrics).drop(columns=drop)
            .equals(pd.DataFrame(resumed.metrics).drop(columns=drop)))
    assert not all(torch.equal(a[k], cut[k]) for k in a)  # epoch 2 did change the weights


def test_resume_refuses_a_last_pt_of_other_settings(work):
    from labelclean.errors import ConfigError

    root, _ = work
    _run(root / "work", root / "out", epochs=1)
    with pytest.raises(ConfigError, match="other settings or data"):
        _run(root / "work", root / "out", epochs=1, lr=0.01, resume=True)


def test_ema_follows_the_weights_and_is_what_is_evaluated(work):
    import torch

    from labelclean.train.ce import CEStep
    from labelclean.train.loop import Batch, TrainConfig
    from labelclean.train.runtime import setup_runtime

    config = TrainConfig(epochs=1, batch_size=8, device="cpu").resolved()
    runtime = setup_runtime("cpu", 0)
    images = torch.randint(0, 255, (16, 3, 32, 32), dtype=torch.uint8)
    step = CEStep(config, images, np.arange(16), 3, runtime, ema=0.5)
    before = {k: v.clone() for k, v in step.ema.module.state_dict().items()}
    for _ in range(3):
        step(Batch(images=images[:8], rows=np.arange(8), epoch=0,
                   targets=torch.arange(8) % 3))
    ema, net = step.ema.module.state_dict(), step.net.state_dict()
    weight = next(k for k in ema if k.endswith("weight") and ema[k].dim() > 1)
    assert not torch.equal(ema[weight], before[weight])
    assert not torch.equal(ema[weight], net[weight])
    assert step.model() is step.ema.module


def test_swa_averages_the_last_epochs(work):
    import torch

    from labelclean.train.ce import CEStep
    from labelclean.train.loop import Batch, TrainConfig
    from labelclean.train.runtime import setup_runtime

    config = TrainConfig(epochs=3, batch_size=8, device="cpu").resolved()
    images = torch.randint(0, 255, (16, 3, 32, 32), dtype=torch.uint8)
    step = CEStep(config, images, np.arange(16), 3, setup_runtime("cpu", 0), swa=2)
    seen = []
    for epoch in range(3):
        step.begin_epoch(epoch)
        step(Batch(images=images[:8], rows=np.arange(8), epoch=epoch,
                   targets=torch.arange(8) % 3))
        step.end_epoch(epoch)
        seen.append({k: v.clone() for k, v in step.net.state_dict().items()})
    model = step.model()
    assert model is step.swa.module and int(step.swa.n_averaged) == 2
    weight = next(k for k in seen[0] if k.endswith("weight") and seen[0][k].dim() > 1)
    mean = (seen[1][weight] + seen[2][weight]) / 2
    assert torch.allclose(model.state_dict()[weight], mean, atol=1e-6)
    bn = next(k for k in seen[0] if k.endswith("running_mean"))
    assert not torch.equal(model.state_dict()[bn], seen[2][bn])  # batch norm recomputed


def test_copies_of_held_out_images_are_never_trained_on():
    from labelclean.oof.folds import duplicate_groups, in_row_order
    from labelclean.train.holdout import holdout_mask

    ids = [f"img{i}" for i in range(60)]
    sha = [f"h{i}" for i in range(60)]
    sha[1] = sha[0]  # an exact copy
    dups = pd.DataFrame({"group_id": [7, 7, 7, 9, 9], "image_id": ["img0", "img2", "img3",
                                                                   "img10", "img11"]})
    related = pd.DataFrame({"image_id": ["img11", "img40"], "other_id": ["img12", "gone"]})
    groups = in_row_order(duplicate_groups(ids, sha, dups, related=related))
    assert len({groups[i] for i in (0, 1, 2, 3)}) == 1 and groups[10] == groups[11]
    assert groups[12] == groups[11]  # a confirmed pair dedupe kept out of the group
    assert groups[4] != groups[0] and groups[40] != groups[12]
    assert list(groups[:5]) == [0, 0, 0, 0, 1]  # numbered in the order of first rows
    users = ["p1" if i in (4, 20, 30) else "" for i in range(60)]
    joined = duplicate_groups(ids, sha, dups, users)
    assert joined[4] == joined[20] == joined[30] and joined[5] != joined[4]
    codes = np.arange(60) % 3
    for seed in range(5):
        held = holdout_mask(codes, groups, 0.2, seed)
        for g in np.unique(groups):
            assert len(set(held[groups == g])) == 1  # a group is on one side
        assert 6 <= held.sum() <= 18
        assert set(codes[held]) == {0, 1, 2}


def test_the_split_keeps_copies_together_in_a_work_directory(work):
    from labelclean.io.formats import read_duplicates
    from labelclean.train.data import load_train_data

    root, _ = work
    data = load_train_data(root / "work", holdout=0.2)
    dups = read_duplicates(root / "work", typed=True)
    group_of = dict(zip(dups["image_id"], dups["group_id"]))
    train = {group_of.get(data.ids[r]) for r in data.train_rows} - {None}
    held = {group_of.get(data.ids[r]) for r in data.val_rows} - {None}
    assert held and not train & held
    again = load_train_data(root / "work", labels_from="given", holdout=0.2)
    assert [data.ids[r] for r in data.val_rows] == [again.ids[r] for r in again.val_rows]


def test_the_unlabeled_pool_is_flagged_images_never_unreadable_or_copies(work):
    from labelclean.io.formats import read_duplicates, read_index, read_manifest
    from labelclean.train.data import load_train_data

    root, demo = work
    wd = root / "work"
    extra = root / "extra"
    extra.mkdir()
    shutil.copy(next((Path(demo.images)).glob("*.jpg")), extra / "copy.jpg")
    (extra / "broken.jpg").write_bytes(b"not an image")
    shutil.copy(next((Path(demo.images)).glob("*.jpg")), extra / "new.png")
    data = load_train_data(wd, method="fixmatch", unlabeled=str(extra))
    manifest = read_manifest(wd).set_index("image_id")
    index = read_index(wd).set_index("image_id")
    pool = [data.ids[r] for r in data.unlabeled_rows]
    from_manifest = [i for i in pool if i in manifest.index]
    assert from_manifest
    assert all(manifest.loc[i, "action"] in ("drop", "review") for i in from_manifest)
    assert all(index.loc[i, "readable"] for i in from_manifest)
    assert "broken.jpg" not in pool and "copy.jpg" not in pool
    dups = read_duplicates(wd, typed=True)
    group_of = dict(zip(dups["image_id"], dups["group_id"]))
    labeled = {group_of.get(data.ids[r]) for r in
               np.concatenate([data.train_rows, data.val_rows])} - {None}
    assert not {group_of.get(i) for i in from_manifest} & labeled
    assert not set(data.train_rows) & set(data.unlabeled_rows)
    assert any("unreadable" in n for n in data.notes)


def test_unusable_configurations_are_one_clear_error(work, cli):
    root, _ = work
    config = root / "labelclean.toml"
    (root / "work" / "manifest.csv").write_text(
        (root / "work" / "manifest.csv").read_text().replace(",review,", ",keep,")
        .replace(",drop,", ",keep,"))
    result = cli("train", "--config", config, "--method", "fixmatch", "--epochs", "1")
    assert result.exit_code == 1 and "FixMatch needs unlabeled images" in result.output
    assert "--unlabeled" in result.output
    result = cli("train", "--config", config, "--image-size", "4", "--epochs", "1")
    assert result.exit_code == 1 and "at least 8 pixels" in result.output
    result = cli("train", "--config", config, "--labels-from", "guess")
    assert result.exit_code == 1 and "--labels-from" in result.output
    result = cli("train", "--config", config, "--method", "dividemix", "--holdout", "0.5",
                 "--epochs", "2", "--warmup-epochs", "1", "--val-labels",
                 root / "missing.csv")
    assert result.exit_code == 1 and "--val-labels" in result.output


def test_dividemix_needs_images_of_every_class(work):
    from labelclean.errors import ConfigError
    from labelclean.train.data import check_method, load_train_data

    root, _ = work
    data = load_train_data(root / "work", labels_from="given")
    keep = data.train_rows[(data.labels[data.train_rows] != 0)
                           | (np.arange(len(data.train_rows)) < 2)]
    with pytest.raises(ConfigError, match="DivideMix needs at least"):
        check_method(replace(data, train_rows=keep), "dividemix")


def test_the_report_shows_the_comparison_table_and_curves(work, cli):
    from labelclean.io.trainfiles import comparison_table, read_comparison, write_comparison

    root, _ = work
    wd = root / "work"
    runs = [_run(wd, wd / "train" / name, epochs=1, labels_from=labels)
            for name, labels in (("ce_given", "given"), ("ce_clean", "clean"))]
    rows = [{**r.summary, "recipe": name} for r, name in zip(runs, ("ce_given", "ce_clean"))]
    rows.append({"recipe": "fixmatch_clean", "method": "fixmatch", "labels_from": "clean",
                 "note": "no unlabeled image"})
    write_comparison(comparison_table(rows, list(range(10))), wd)
    table = read_comparison(wd)
    assert list(table["recipe"]) == ["ce_given", "ce_clean", "fixmatch_clean"]
    assert table["heldout_accuracy"][:2].between(0, 1).all()
    assert {f"recall_{c}" for c in range(10)} <= set(table.columns)
    result = cli("report", "--config", root / "labelclean.toml")
    assert result.exit_code == 0, result.output
    html = (wd / "report" / "index.html").read_text()
    section = html[html.index('<section id="training">'):]
    assert "ce_clean" in section and "no unlabeled image" in section
    assert f"{runs[1].summary['heldout_accuracy']:.3f}" in section
    assert (wd / "report" / "assets" / "figures" / "training_curves.png").stat().st_size > 0


def test_no_training_section_without_a_comparison(work, cli):
    root, _ = work
    assert cli("report", "--config", root / "labelclean.toml").exit_code == 0
    assert 'id="training"' not in (root / "work" / "report" / "index.html").read_text()


@pytest.mark.slow
def test_compare_trains_the_standard_recipes(work, cli):
    root, _ = work
    result = cli("train", "--config", root / "labelclean.toml", "--compare", "--epochs", "2",
                 "--warmup-epochs", "1", "--mu", "1", "--device", "cpu", "--batch-size", "32")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(root / "work" / "train" / "comparison.csv")
    assert list(table["recipe"]) == ["ce_given", "ce_clean", "dividemix_given",
                                     "fixmatch_clean"]
    assert table["heldout_accuracy"].between(0, 1).all()
    held = {json.loads((root / "work" / "train" / r / "summary.json").read_text())["n_heldout"]
            for r in table["recipe"]}
    assert len(held) == 1  # one held-out split for every recipe
    assert "comparison.csv" in result.output


def test_run_trains_only_when_the_project_file_names_a_method(work):
    from labelclean.pipeline.runner import run_pipeline

    root, _ = work
    skip = {"skip": ["embed", "oof", "noise", "report"]}
    project = project_of(root / "labelclean.toml", run=skip)
    skipped = run_pipeline(project).stages["train"]
    assert "off unless [train] method" in skipped.skipped
    project = project_of(root / "labelclean.toml", run=skip,
                         train={"method": "ce", "epochs": 1, "device": "cpu"})
    ran = run_pipeline(project).stages["train"]
    assert not ran.skipped and (root / "work" / "train" / "ce" / "model.pt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("method, given", [
    ("dividemix", {"labels_from": "given", "epochs": 3, "warmup_epochs": 1}),
    ("fixmatch", {"epochs": 2, "mu": 1})])
def test_the_methods_resume_exactly_too(work, method, given):
    import torch

    root, _ = work
    wd = root / "work"
    last = f"epoch {given['epochs']}/{given['epochs']}"
    _run(wd, root / "whole", method=method, **given)

    def stop(done, total, description=""):
        if last in description:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(wd, root / "cut", progress=stop, method=method, **given)
    _run(wd, root / "cut", method=method, resume=True, **given)
    a = torch.load(root / "whole" / "model.pt", weights_only=False)["members"]
    b = torch.load(root / "cut" / "model.pt", weights_only=False)["members"]
    assert len(a) == len(b) == (2 if method == "dividemix" else 1)
    assert all(torch.equal(x[k], y[k]) for x, y in zip(a, b) for k in x)


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["ce", "dividemix", "fixmatch"])
def test_training_on_cuda_saves_a_model_the_cpu_can_use(work, method):
    import torch

    from labelclean.train.checkpoint import load_model

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    root, _ = work
    given = {"dividemix": {"labels_from": "given", "warmup_epochs": 1}}.get(method, {})
    run = _run(root / "work", root / "out", method=method, device="cuda", **given)
    assert run.summary["config"]["device"] == "cuda"
    net, info = load_model(root / "out", "cpu")
    with torch.no_grad():
        logits = net(torch.zeros(2, 3, info["image_size"], info["image_size"]))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


@pytest.mark.slow
def test_the_training_benchmark_runs_on_tiny_data(example, tmp_path):
    report = tmp_path / "train.md"
    results = example("bench_train").main(["--noise", "sym40", "--n-images", "200",
                                           "--epochs", "2", "--out", str(tmp_path / "w"),
                                           "--report", str(report)])
    table = results[0]["table"]
    assert list(table["recipe"]) == ["ce_given", "ce_clean", "dividemix_given",
                                     "fixmatch_clean"]
    text = report.read_text()
    assert "## sym40" in text and "| ce_clean |" in text and "--epochs 2" in text
