"""The embed stage: shapes, row order, resume, weights files, offline errors, bad files, CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from labelclean.embed.stage import embed_dataset, embed_images
from labelclean.errors import MissingStageError, RegistryError, WeightsError
from labelclean.io.dataset import load_dataset
from labelclean.io.formats import read_index
from labelclean.models.backbones import (
    BACKBONES,
    DEFAULT_BACKBONE,
    build_encoder,
    file_stem,
    list_backbones,
)
from labelclean.models.embeddings import load_embeddings
from labelclean.scan.stage import scan_dataset

from .hostile import photo

TINY = dict(model="resnet10t", pretrained=False, image_size=64)


def write_images(folder, n=10):
    """``n`` distinct photos (some JPEG, some PNG), an empty and a truncated file."""
    folder.mkdir(parents=True)
    for i in range(n):
        img = photo(i, (96 + 8 * (i % 3), 80))
        img.save(folder / f"img_{i:02d}.{'png' if i % 2 else 'jpg'}")
    (folder / "empty.jpg").write_bytes(b"")
    good = (folder / "img_00.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    return folder


@pytest.fixture
def scanned(tmp_path):
    """A scanned work directory over 10 good and 2 unreadable images."""
    images = write_images(tmp_path / "images")
    work = tmp_path / "work"
    scan_dataset(load_dataset(images), work, workers=1)
    return images, work


def test_rows_follow_index_order_and_match_in_memory_embedding(scanned):
    images, work = scanned
    result = embed_dataset(work, workers=0, batch_size=4, **TINY)
    array, meta = load_embeddings(work)
    index = read_index(work)
    assert array.shape == (len(index), meta["dim"]) == (12, 512)
    assert array.dtype == np.float16 and meta["completed"] == meta["n"] == 12
    assert result.path.name == "resnet10t.npy" and result.computed == 12
    readable = index["readable"].to_numpy()
    assert np.allclose(np.linalg.norm(array[readable].astype(np.float32), axis=1), 1, atol=1e-2)
    # the same files embedded in reverse order land in reverse rows
    paths = [images / p for p in index.loc[readable, "path"]]
    backwards = embed_images(paths[::-1], workers=0, **TINY)
    np.testing.assert_allclose(array[readable], backwards[::-1], atol=2e-3)
    assert len({tuple(np.round(r, 2)) for r in backwards}) == len(paths)


def test_preprocessing_is_the_models_own_eval_transform(tmp_path):
    from timm.data import create_transform

    img = photo(3, (120, 90))
    img.save(tmp_path / "a.png")
    encoder = build_encoder(**TINY)
    got = embed_images([tmp_path / "a.png"], encoder=encoder, normalize=False, workers=0)
    tensor = create_transform(**encoder.data_config, is_training=False)(img)
    with torch.inference_mode():
        expected = encoder.model(tensor[None]).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_unreadable_rows_are_zero_and_listed(scanned):
    images, work = scanned
    (images / "img_03.png").write_bytes(b"not an image any more")  # breaks after the scan
    result = embed_dataset(work, workers=0, **TINY)
    array, meta = load_embeddings(work)
    index = read_index(work)
    listed = {u["image_id"]: u["error"] for u in meta["unreadable"]}
    assert listed == {"empty.jpg": "empty file (0 bytes)", "truncated.jpg": "truncated image data",
                      "img_03.png": "not an image: text"}
    for u in meta["unreadable"]:
        assert index.loc[u["row"], "image_id"] == u["image_id"]
        assert not array[u["row"]].any()
    assert result.unreadable == meta["unreadable"]
    assert (np.abs(array).sum(axis=1) > 0).sum() == 9


def test_interrupted_run_resumes_to_identical_rows(scanned, tmp_path):
    _, work = scanned
    calls = []

    def stop_after_two_batches(done, total, description=""):
        calls.append(done)
        if done >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_dataset(work, workers=0, batch_size=3, progress=stop_after_two_batches, **TINY)
    meta = json.loads((work / "embeddings" / "resnet10t.json").read_text())
    assert meta["completed"] == 6 and calls == [0, 3, 6]
    with pytest.raises(MissingStageError, match=r"unfinished \(6 of 12 rows\); run 'labelclean "
                                                 r"embed --model resnet10t' to finish them"):
        load_embeddings(work)
    resumed = embed_dataset(work, workers=0, batch_size=3, **TINY)
    assert (resumed.resumed_from, resumed.computed) == (6, 6)
    assert [u["image_id"] for u in resumed.unreadable] == ["empty.jpg", "truncated.jpg"]
    again = embed_dataset(work, workers=0, batch_size=3, **TINY)
    assert again.reused and again.computed == 0

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for name in ("index.csv", "stages"):
        os.symlink(work / name, fresh / name)
    embed_dataset(fresh, workers=0, batch_size=3, **TINY)
    np.testing.assert_array_equal(load_embeddings(work)[0], load_embeddings(fresh)[0])


def test_changed_settings_recompute_instead_of_resuming(scanned):
    _, work = scanned
    embed_dataset(work, workers=0, dtype="float32", **TINY)
    array, _ = load_embeddings(work, model="resnet10t")
    assert array.dtype == np.float32
    raw = embed_dataset(work, workers=0, dtype="float32", normalize=False, **TINY)
    assert raw.computed == 12 and not raw.meta["l2_normalized"]
    norms = np.linalg.norm(load_embeddings(work)[0], axis=1)
    assert norms.max() > 1.5  # not normalised any more


def _saved_model(tmp_path, name, *, classifier: bool, wrapper: str | None, fmt: str):
    import timm

    torch.manual_seed(1234)
    saved = timm.create_model(name, pretrained=False, num_classes=7 if classifier else 0).eval()
    state = saved.state_dict()
    path = tmp_path / f"{name}.{fmt}"
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({wrapper: state, "epoch": 3} if wrapper else state, path)
    return saved, path


@pytest.mark.parametrize("name,classifier,wrapper,fmt", [
    ("resnet10t", True, "state_dict", "pth"),
    ("resnet10t", False, None, "safetensors"),
    ("test_vit", True, "model", "pth"),
])
def test_weights_file_gives_the_saved_models_features(tmp_path, name, classifier, wrapper, fmt):
    saved, path = _saved_model(tmp_path, name, classifier=classifier, wrapper=wrapper, fmt=fmt)
    img = photo(5, (150, 120))
    img.save(tmp_path / "x.png")
    encoder = build_encoder(name, weights=path)
    assert encoder.weights.startswith("file:") and encoder.weights.split(" ")[0].endswith(
        path.name)
    got = embed_images([tmp_path / "x.png"], encoder=encoder, normalize=False, workers=0)
    from timm.data import create_transform

    x = create_transform(**encoder.data_config, is_training=False)(img)[None]
    with torch.inference_mode():
        expected = saved.forward_head(saved.forward_features(x), pre_logits=True).numpy()
        random_init = build_encoder(name, pretrained=False).model(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert not np.allclose(got, random_init, atol=1e-3)


def test_weights_of_another_model_are_refused(tmp_path):
    _, path = _saved_model(tmp_path, "test_vit", classifier=False, wrapper=None, fmt="pth")
    with pytest.raises(WeightsError, match=r"^weights file .*test_vit\.pth do not fit model "
                                           r"'resnet10t': \d+ missing \(e\.g\. conv1"):
        build_encoder("resnet10t", weights=path)
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="cannot be read as a .safetensors file or a PyTorch"):
        build_encoder("resnet10t", weights=tmp_path / "junk.pth")


def test_offline_without_weights_says_how_to_provide_them(tmp_path, monkeypatch):
    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(cache))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError) as caught:
        build_encoder("resnet10t")
    assert str(caught.value) == (
        f"no pretrained weights for model 'resnet10t': 'timm/resnet10t.c3_in1k' is not in the "
        f"Hugging Face cache ({cache / 'hub'}) and downloads are off (HF_HUB_OFFLINE=1); set "
        "`weights` to a FILE (a .safetensors file or a PyTorch state dict), or run once online "
        "to download them (or set HF_HOME to a cache that has them), or ask for random weights "
        "with `no_pretrained`")


def test_weights_come_from_the_hugging_face_cache_offline(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    saved, _ = _saved_model(tmp_path, "resnet10t", classifier=True, wrapper=None, fmt="pth")
    repo = tmp_path / "hf" / "hub" / "models--timm--resnet10t.c3_in1k"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    save_file(saved.state_dict(), str(repo / "snapshots" / commit / "model.safetensors"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = build_encoder("resnet10t", image_size=64)
    assert encoder.weights == "hf-cache:timm/resnet10t.c3_in1k"
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        expected = saved.forward_head(saved.forward_features(x), pre_logits=True)
        np.testing.assert_allclose(encoder.model(x).numpy(), expected.numpy(), atol=1e-5)


def test_load_embeddings_errors(scanned, tmp_path):
    _, work = scanned
    with pytest.raises(MissingStageError, match=r"no embeddings in .*embeddings; run "
                                                r"'labelclean embed' first$"):
        load_embeddings(work)
    embed_dataset(work, workers=0, **TINY)
    embed_dataset(work, workers=0, model="test_vit", pretrained=False, image_size=32)
    assert load_embeddings(work)[1]["model"] == "test_vit"  # the newest
    assert load_embeddings(work, "resnet10t")[1]["model"] == "resnet10t"
    with pytest.raises(MissingStageError, match=r"no embeddings for model 'dinov2_s' in .* "
                                                r"\(found: resnet10t, test_vit\); run "
                                                r"'labelclean embed --model dinov2_s'"):
        load_embeddings(work, "dinov2_s")
    index = work / "index.csv"
    index.write_text(index.read_text().replace("img_01", "img_99"))
    with pytest.raises(MissingStageError, match="computed for another index.csv"):
        load_embeddings(work)


def test_registry_and_file_names():
    import timm

    assert DEFAULT_BACKBONE in list_backbones() and "dinov2_s" in list_backbones()
    for backbone in BACKBONES.values():
        assert timm.list_pretrained(backbone.timm_name) == [backbone.timm_name]
    assert BACKBONES["dinov2_s"].timm_name == "vit_small_patch14_dinov2.lvd142m"
    assert file_stem("hf-hub:timm/vit_small.x") == "hf-hub_timm_vit_small.x"
    assert file_stem("../..") == "model"
    with pytest.raises(RegistryError, match=r"^unknown model 'resnet_9000'; choose one of: "
                                            r"clip_b16, convnext_nano, .*timm.list_models\(\)"):
        build_encoder("resnet_9000")
    with pytest.raises(RegistryError, match="unknown model 'resnet10t.nope'"):
        build_encoder("resnet10t.nope")


def test_cli_embed_summary_reuse_and_errors(cli, tmp_path):
    write_images(tmp_path / "imgs")
    assert cli("embed", "--images", "imgs").stderr == (
        "Error: .labelclean/index.csv does not exist; run 'labelclean scan' first\n")
    assert cli("scan", "--images", "imgs").exit_code == 0
    args = ["--images", "imgs", "--model", "test_vit", "--image-size", "32", "--workers", "1"]
    result = cli("embed", *args, "--no-pretrained", "--dtype", "float32")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Embedded 12 images with test_vit (")
    assert "images/s on cpu" in lines[0]
    assert lines[1] == "  64-d float32, L2-normalised, input 32x32, weights: random-init (seed 0)"
    assert lines[2] == "  unreadable 2 (zero rows, listed in test_vit.json)"
    array, _ = load_embeddings(tmp_path / ".labelclean")
    assert array.shape == (12, 64) and array.dtype == np.float32
    again = cli("embed", *args, "--no-pretrained", "--dtype", "float32")
    assert "(unchanged, reused)" in again.stdout
    result = cli("embed", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no pretrained weights for model 'test_vit': ")
    assert cli("embed", *args, "--no-pretrained", "--dtype", "int8").stderr == (
        "Error: --dtype must be one of float16, float32, not 'int8'\n")
    listing = cli("embed", "--list-models").stdout
    assert "dinov2_s" in listing and "vit_small_patch14_dinov2.lvd142m" in listing


def test_big_jpegs_are_decoded_in_draft_mode(tmp_path):
    from labelclean.embed.stage import iter_features
    from labelclean.io.imageio import load_rgb
    from labelclean.models.inputs import ImageRows

    yy, xx = np.mgrid[0:600, 0:800]
    smooth = np.stack([xx / 800 * 255, yy / 600 * 255, (xx + yy) % 256], axis=-1)
    Image.fromarray(smooth.astype(np.uint8)).save(tmp_path / "big.jpg", quality=95)
    encoder = build_encoder(**TINY)
    assert encoder.resize_side == 73  # floor(64 / 0.875): the eval resize's shorter side
    assert load_rgb(tmp_path / "big.jpg", max_side=encoder.resize_side).size == (100, 75)
    tensor, error = ImageRows([str(tmp_path / "big.jpg")], transform=encoder.preprocess,
                              max_side=encoder.resize_side, blank=encoder.input_size)[0]
    assert error == "" and tuple(tensor.shape) == (3, 64, 64) and tensor.dtype == torch.uint8
    drafted, full = (next(iter_features(encoder, [str(tmp_path / "big.jpg")], workers=0,
                                        draft=draft))[1][0] for draft in (True, False))
    assert not np.array_equal(drafted, full)
    cosine = drafted @ full / np.linalg.norm(drafted) / np.linalg.norm(full)
    assert cosine > 0.99


def test_unreachable_hub_fails_fast_with_the_same_advice(tmp_path, monkeypatch):
    """The connection probe decides: the hub client (and its retries) is never started."""
    import socket

    import huggingface_hub
    from huggingface_hub import constants

    def no_download(*args, **kwargs):
        raise AssertionError("the hub client was asked to download from an unreachable hub")

    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    with pytest.raises(WeightsError, match="the Hugging Face hub cannot be reached "
                                           r"\(no network\); set `weights` to a FILE"):
        build_encoder("resnet10t")


def test_an_image_size_the_model_cannot_take_is_a_config_error():
    from labelclean.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^model 'test_vit' cannot take 17x17 images \(.*"
                                          r"patch size.*\); set another `image_size`"):
        build_encoder("test_vit", pretrained=False, image_size=17)
    assert build_encoder("test_vit", pretrained=False, image_size=32).dim > 0


@pytest.mark.parametrize("config", [
    dict(input_size=(3, 64, 64), interpolation="bicubic", crop_pct=0.875, crop_mode="center"),
    dict(input_size=(3, 224, 224), interpolation="bilinear", crop_pct=0.9),
    dict(input_size=(3, 40, 40), interpolation="bilinear", crop_pct=1.0, crop_mode="squash"),
    dict(input_size=(3, 40, 40), interpolation="bicubic", crop_pct=1.15),  # padded crop
])
def test_eval_view_gives_the_transforms_pixels_without_torch(config):
    from timm.data import create_transform

    from labelclean.models.evalview import eval_view

    transform = create_transform(**config, is_training=False, use_prefetcher=True)
    view = eval_view(transform)
    assert view is not None
    rng = np.random.default_rng(0)
    for w, h in [(5, 300), (300, 7), (64, 64), (73, 80), (33, 34), *rng.integers(5, 260, (12, 2))]:
        img = Image.fromarray(rng.integers(0, 256, (int(h), int(w), 3), dtype=np.uint8))
        got = view(img)
        assert isinstance(got, np.ndarray) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, transform(img).numpy())


def test_other_transforms_are_kept_as_they_are():
    from timm.data import create_transform

    from labelclean.models.evalview import eval_view

    border = create_transform(input_size=(3, 40, 40), crop_pct=0.95, crop_mode="border",
                              is_training=False, use_prefetcher=True)
    assert eval_view(border) is None
    normalised = create_transform(input_size=(3, 40, 40), is_training=False)  # Normalize step
    assert eval_view(normalised) is None
    assert eval_view(lambda img: img) is None


def test_decoding_for_a_model_needs_no_torch(tmp_path):
    """A process that only decodes (a Ray task) never imports torch, torchvision or timm."""
    import pickle
    import subprocess
    import sys

    photo(1, (120, 90)).save(tmp_path / "a.jpg")
    encoder = build_encoder(**TINY)
    (tmp_path / "view.pkl").write_bytes(pickle.dumps(encoder.decode_transform))
    code = f"""
import pickle, sys
import numpy as np
view = pickle.loads(open({str(tmp_path / 'view.pkl')!r}, "rb").read())
from labelclean.embed.distributed import decode_batch
out = decode_batch({{"row": np.array([0, 1]), "path": np.array([{str(tmp_path / 'a.jpg')!r},
    {str(tmp_path / 'gone.jpg')!r}], dtype=object), "error": np.array(["", ""], dtype=object)}},
    view, {encoder.resize_side}, {encoder.input_size})
np.save({str(tmp_path / 'out.npy')!r}, out["image"])
print(sorted(m for m in ("torch", "torchvision", "timm") if m in sys.modules), list(out["error"]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    imported, errors = done.stdout.strip().split("] ")
    assert imported == "[" and "missing file" in errors
    from labelclean.models.inputs import ImageRows

    expected, error = ImageRows([str(tmp_path / "a.jpg")], transform=encoder.preprocess,
                                max_side=encoder.resize_side, blank=encoder.input_size)[0]
    decoded = np.load(tmp_path / "out.npy")
    np.testing.assert_array_equal(decoded[0], expected.numpy())
    assert not decoded[1].any()
