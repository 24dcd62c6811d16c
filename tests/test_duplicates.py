"""The dedupe stage: exact, same-pixel, hash, thumbnail and embedding duplicates."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelclean.dedupe.find import (
    DedupeOptions,
    exact_groups,
    find_duplicates,
    near_groups_from_embeddings,
    near_groups_from_hashes,
)
from labelclean.dedupe.grouping import choose_keep, group_labels, groups_of, labels_conflict
from labelclean.dedupe.neighbors import cosine_pairs, hamming_pairs
from labelclean.dedupe.stage import dedupe_workdir
from labelclean.dedupe.verify import thumbnail_similarity
from labelclean.demo.data import _jpeg_bytes, _render_digit
from labelclean.evaluate.pairs import score_duplicates
from labelclean.io.dataset import load_dataset
from labelclean.io.formats import DUPLICATES_COLUMNS, read_duplicates
from labelclean.scan.hashing import hash_hex
from labelclean.scan.stage import scan_dataset


@pytest.fixture(scope="module")
def demo_run(small_demo, tmp_path_factory):
    """The small demo, scanned and deduplicated with the defaults."""
    wd = tmp_path_factory.mktemp("dedupe") / "wd"
    scan_dataset(load_dataset(small_demo.images, small_demo.labels), wd)
    result = dedupe_workdir(wd)
    truth = pd.read_csv(small_demo.truth, dtype=str, keep_default_na=False)
    return result, truth, wd


def test_demo_defaults_find_copies_with_high_precision_and_recall(demo_run):
    result, truth, _ = demo_run
    scores = score_duplicates(result.table, truth)
    kinds = scores["recall_by_kind"]
    for kind in ("exact-bytes", "exact-pixels"):
        assert kinds[kind][0] == kinds[kind][1] > 0  # every exact copy
    near = [kinds[k] for k in ("resize", "jpeg", "brightness", "shift")]
    assert sum(f for f, _ in near) / sum(t for _, t in near) >= 0.95
    assert scores["precision"] >= 0.95


def test_table_columns_keep_and_conflict(demo_run):
    _, truth, wd = demo_run
    table = read_duplicates(wd, typed=True)
    assert list(table.columns) == DUPLICATES_COLUMNS
    assert (table.groupby("group_id")["keep"].sum() == 1).all()
    assert table.loc[table["keep"], "score"].eq(1.0).all()
    assert table["score"].between(0, 1).all()
    given = dict(zip(truth["image_id"], truth["given_label"].astype(int)))
    for _, rows in table.groupby("group_id"):
        disagree = len({given[i] for i in rows["image_id"]}) > 1
        assert rows["label_conflict"].eq(disagree).all()
    assert table["label_conflict"].any()
    copies = truth[truth["duplicate_kind"] == "exact-pixels"]
    png = table[table["image_id"].isin(copies["image_id"])]
    assert set(png["method"]) == {"pixels"} or png["keep"].all()


def test_unreadable_files_are_skipped_and_counted(demo_run, small_demo):
    result, truth, _ = demo_run
    broken = set(truth.loc[truth["unreadable"] == "True", "image_id"])
    assert len(broken) == 2
    assert result.summary["unreadable_skipped"] == 2
    assert not broken & set(result.table["image_id"])


def test_second_run_is_reused_and_options_recompute(demo_run):
    result, _, wd = demo_run
    again = dedupe_workdir(wd)
    assert again.reused and again.summary["groups"] == result.summary["groups"]
    strict = dedupe_workdir(wd, options=DedupeOptions(methods=("hash",), radius=0))
    assert not strict.reused
    assert strict.summary["groups"] < result.summary["groups"]


def test_exact_groups():
    assert exact_groups(["a", "b", "a", "", "", "b", "c"]) == [[0, 2], [1, 5]]


def test_hamming_pairs_match_brute_force():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (400, 8), dtype=np.uint8)
    codes[200:] = codes[:200]
    bits = np.unpackbits(codes[200:], axis=1)
    flips = rng.random(bits.shape) < 0.08
    codes[200:] = np.packbits(bits ^ flips, axis=1)
    found = hamming_pairs(codes, 6)
    all_bits = np.unpackbits(codes, axis=1).astype(np.int16)
    dist = (all_bits[:, None, :] != all_bits[None, :, :]).sum(axis=2)
    i, j = np.nonzero(np.triu(dist <= 6, 1))
    assert set(zip(found.i, found.j)) == set(zip(i, j))
    assert np.array_equal(found.score, dist[found.i, found.j])


def _digit_photos(seed: int = 3):
    """Four different handwritten 3s as photos (the three most like the first of 60, drawn
    on the same background), and re-encoded copies of the first."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    threes = np.flatnonzero(digits.target == 3)[:60]
    flat = digits.images[threes].reshape(len(threes), -1)
    likeness = np.corrcoef(flat)[0]
    threes = threes[np.argsort(-likeness)[:4]]
    # same colours, shading and noise for all four: only the handwriting differs
    images = [Image.open(io.BytesIO(_jpeg_bytes(_render_digit(
        digits.images[k], 64, np.random.default_rng(seed)), 92))) for k in threes]
    original = images[0]
    copies = [Image.open(io.BytesIO(_jpeg_bytes(original, 35))),
              original.resize((48, 48), Image.Resampling.BICUBIC),
              Image.fromarray(np.clip(np.asarray(original) * 1.2, 0, 255).astype(np.uint8))]
    return images + copies


def _thumb(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L").resize((32, 32), Image.Resampling.BOX))


def test_verification_groups_copies_but_not_look_alikes():
    photos = _digit_photos()
    hashes = [hash_hex("phash", p.convert("L")) for p in photos]
    thumbs = np.stack([_thumb(p) for p in photos])
    unverified = near_groups_from_hashes(hashes, radius=64)
    assert unverified == [list(range(7))]  # every pair is a candidate at radius 64
    verified = near_groups_from_hashes(hashes, radius=64, thumbs=thumbs)
    assert verified == [[0, 4, 5, 6]]  # the copies; the other 3s stay apart
    corr, _ = thumbnail_similarity(thumbs[[0, 0, 0]], thumbs[[1, 2, 3]])
    assert (corr > 0.9).all()  # they do look alike


def test_shifted_copy_is_confirmed():
    photo = _digit_photos()[0]
    shifted = Image.fromarray(np.roll(np.asarray(photo), (2, -2), axis=(0, 1)))
    thumbs = np.stack([_thumb(photo), _thumb(shifted)])
    assert near_groups_from_hashes(["0" * 16, "0" * 16], radius=0, thumbs=thumbs) == [[0, 1]]
    corr, _ = thumbnail_similarity(thumbs[:1], thumbs[1:], max_shift=0)
    corr_shift, _ = thumbnail_similarity(thumbs[:1], thumbs[1:], max_shift=1)
    assert corr_shift[0] > corr[0] and corr_shift[0] > 0.97


def test_blank_images_of_different_shades_are_not_copies():
    shades = [40, 41, 160, 220]  # two near-equal dark greys, a light grey, near white
    thumbs = np.stack([np.full((32, 32), v, np.uint8) for v in shades])
    groups = near_groups_from_hashes(["8000000000000000"] * 4, radius=0, thumbs=thumbs)
    assert groups == [[0, 1]]
    _, diff = thumbnail_similarity(thumbs[[0, 0]], thumbs[[1, 2]])
    assert diff[0] < 3 < diff[1]


def _planted(n: int, dim: int, groups: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    truth = []
    for g in range(groups):
        base = 3 * g
        x[base + 1] = x[base] + rng.normal(scale=0.1, size=dim)
        x[base + 2] = x[base] * 2 + rng.normal(scale=0.1, size=dim)  # scale does not matter
        truth.append([base, base + 1, base + 2])
    return x, truth


@pytest.mark.parametrize("method", ["knn", "dbscan"])
def test_near_groups_from_embeddings(method):
    x, truth = _planted(600, 32, 20)
    x[599] = 0  # an unreadable row never pairs
    x[598] = 0
    assert near_groups_from_embeddings(x, 0.95, method=method) == truth


def test_cosine_pairs_ivf_finds_planted_groups_at_20k():
    x, truth = _planted(20_000, 128, 500, seed=1)
    pairs = cosine_pairs(x.astype(np.float16), 0.95, k=5, exact_limit=5_000)
    found = [g.tolist() for g in groups_of(group_labels(len(x), pairs.i, pairs.j))]
    assert found == truth


def test_group_labels_union_find():
    labels = group_labels(7, np.array([0, 5, 2]), np.array([5, 6, 3]))
    assert labels.tolist() == [0, -1, 1, 1, -1, 0, 0]
    assert [g.tolist() for g in groups_of(labels)] == [[0, 5, 6], [2, 3]]


def test_keep_policy_largest_then_bigger_file_then_first():
    area = np.array([100, 400, 400, 400])
    nbytes = np.array([900, 10, 50, 50])
    assert choose_keep(np.array([0, 1, 2, 3]), area, nbytes) == 2
    assert choose_keep(np.array([0, 1]), area, nbytes) == 1
    assert choose_keep(np.array([3, 2]), area, nbytes) == 2


def test_labels_conflict_ignores_missing():
    assert labels_conflict([1, 2]) and not labels_conflict([1, 1, None, ""])


def _write_folder(folder, images: dict[str, bytes]):
    folder.mkdir(parents=True)
    for name, data in images.items():
        (folder / name).write_bytes(data)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def small_folder(tmp_path):
    """An ImageFolder with a byte copy, a PNG holding a JPEG's pixels, a bigger resized copy
    (other label), a look-alike and a broken file."""
    photos = _digit_photos()
    original = _jpeg_bytes(photos[0], 92)
    decoded = Image.open(io.BytesIO(original))
    root = tmp_path / "images"
    _write_folder(root / "three", {"a.jpg": original, "b.jpg": original, "c.png": _png(decoded),
                                   "d.jpg": _jpeg_bytes(photos[1], 92), "e.jpg": b"",
                                   "other.jpg": _jpeg_bytes(photos[2], 92)})
    _write_folder(root / "eight", {"big.jpg": _jpeg_bytes(
        decoded.resize((96, 96), Image.Resampling.BICUBIC), 95)})
    return root


def test_exact_pixel_resize_and_keep_on_a_folder(small_folder, tmp_path):
    scan_dataset(load_dataset(small_folder), tmp_path / "wd")
    result = dedupe_workdir(tmp_path / "wd")
    table = result.table.set_index("image_id")
    assert set(table.index) == {"three/a.jpg", "three/b.jpg", "three/c.png", "eight/big.jpg"}
    assert table.loc["eight/big.jpg", "keep"]  # the largest copy is kept
    assert table.loc["three/b.jpg", "method"] in ("exact", "pixels", "phash", "thumbnail")
    assert table["label_conflict"].all()
    assert result.summary["unreadable_skipped"] == 1
    # same bytes and same pixels are told apart from each other
    pairs = result.pairs.set_index("method")
    assert "exact" in pairs.index and "pixels" in pairs.index


def test_embedding_method_from_the_work_directory(small_folder, tmp_path):
    from labelclean.io.workdir import write_json
    from labelclean.models.embeddings import embeddings_paths, ids_sha256

    wd = tmp_path / "wd"
    scan = scan_dataset(load_dataset(small_folder), wd)
    ids = scan.index["image_id"].tolist()
    vectors = np.eye(len(ids), 8, dtype=np.float32)
    vectors[ids.index("three/d.jpg")] = vectors[ids.index("three/other.jpg")]
    npy, meta = embeddings_paths(wd, "toy")
    npy.parent.mkdir()
    np.save(npy, vectors)
    write_json({"model": "toy", "n": len(ids), "completed": len(ids), "dim": 8,
                "ids_sha256": ids_sha256(ids)}, meta)
    loose = dedupe_workdir(wd, options=DedupeOptions(methods=("embedding",), verify=False))
    rows = loose.table[loose.table["method"] == "embedding"]
    assert set(rows["image_id"]) == {"three/d.jpg", "three/other.jpg"}
    assert rows["score"].eq(1.0).all()
    verified = dedupe_workdir(wd, options=DedupeOptions(methods=("dbscan",)))
    assert "dbscan" not in set(verified.table["method"])  # two different 3s: rejected
    default = dedupe_workdir(wd)
    assert "embedding" in default.summary["methods"]


def test_find_duplicates_without_images_root_skips_pixel_check(small_folder, tmp_path):
    scan = scan_dataset(load_dataset(small_folder), tmp_path / "wd")
    result = find_duplicates(scan.index, np.asarray(scan.thumbs), hashes=scan.hashes)
    assert "pixels" not in set(result.pairs["method"])
    assert {"three/a.jpg", "three/c.png"} <= set(result.table["image_id"])


# -- CLI --------------------------------------------------------------------------------------

@pytest.fixture
def demo_copy(small_demo, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(small_demo.root, root)
    return root


def test_cli_dedupe_summary(cli, demo_copy):
    dataset = ("--images", demo_copy / "train_images", "--labels", demo_copy / "labels.csv",
               "--workdir", demo_copy / "wd")
    no_scan = cli("dedupe", *dataset)
    assert no_scan.exit_code == 1  # a stage never runs another: dedupe reads the scan
    assert no_scan.stderr == (f"Error: {demo_copy / 'wd' / 'index.csv'} does not exist; run "
                              "'labelclean scan' first\n")
    assert cli("scan", *dataset).exit_code == 0
    args = ("dedupe", *dataset)
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert "duplicate groups among 362 images" in result.output
    assert "images to drop" in result.output and "label conflicts" in result.output
    assert "unreadable skipped       2" in result.output
    assert "CONFLICT" in result.output
    assert (demo_copy / "wd" / "duplicates.csv").exists()
    again = cli(*args)
    assert "unchanged, reused" in again.output


def test_cli_errors(cli, demo_copy):
    wd = demo_copy / "wd"
    result = cli("dedupe", "--workdir", wd)
    assert result.exit_code == 1
    assert result.stderr == (  # no dataset named and nothing scanned: say how to name one
        "Error: no dataset: run 'labelclean init --images DIR' or pass --images\n")
    assert cli("scan", "--images", demo_copy / "train_images", "--workdir", wd).exit_code == 0
    result = cli("dedupe", "--workdir", wd, "--method", "hash,colour")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: unknown dedupe method 'colour'; choose from hash, thumbnail, embedding, dbscan")
    result = cli("dedupe", "--workdir", wd, "--method", "embedding")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: no embeddings in {wd}/embeddings; run 'labelclean embed' first "
        "(the embedding and dbscan methods need them)")
    result = cli("dedupe", "--workdir", wd, "--hash", "dhash")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {wd}/hashes.csv has no 'dhash' column (found: phash); run 'labelclean scan "
        "--hash phash,dhash' or set --hash to phash")
    result = cli("dedupe", "--workdir", wd, "--hash", "md5")
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: unknown hash method 'md5'; choose one of: ahash, dhash, phash, whash")
    assert cli("scan", "--images", demo_copy / "train_images", "--workdir", wd, "--hash",
               "phash,dhash").exit_code == 0
    ok = cli("dedupe", "--workdir", wd, "--hash", "dhash")
    assert ok.exit_code == 0, ok.output  # once scanned with it, dedupe uses that hash
    assert "dhash" in ok.output


def test_dedupe_of_unreadable_or_single_images_and_an_unreadable_other_set(cli, tmp_path):
    """Bad data is data: no readable pair, and an --against set with no readable image, give
    empty results and a summary, not a traceback."""
    images, other = tmp_path / "imgs", tmp_path / "other"
    images.mkdir()
    other.mkdir()
    (images / "a.jpg").write_bytes(b"not a jpeg")
    (images / "b.jpg").write_bytes(b"")
    (other / "c.jpg").write_bytes(b"junk")
    assert cli("scan", "--images", images).exit_code == 0
    done = cli("dedupe", "--images", images)
    assert done.exit_code == 0, done.output
    assert "unreadable skipped       2" in done.output
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), np.uint8)).save(
        images / "ok.png")
    assert cli("scan", "--images", images).exit_code == 0
    done = cli("dedupe", "--images", images, "--against", other)
    assert done.exit_code == 0, done.output
    assert "leaks                    0   images copying an image of the 1 other set" in done.output
    assert pd.read_csv(tmp_path / ".labelclean" / "leaks.csv").empty
    assert pd.read_csv(tmp_path / ".labelclean" / "duplicates.csv").empty


def _faint_pair(mix: float, amplitude: float) -> np.ndarray:
    """(2, 32, 32) uint8: a smooth picture and another made ``mix`` of a different one,
    each ``amplitude`` grey levels of standard deviation around 120."""
    def smooth(seed):
        noise = np.random.default_rng(seed).normal(0, 1, (6, 6)).astype(np.float32)
        return np.asarray(Image.fromarray(noise).resize((32, 32), Image.Resampling.BICUBIC))
    a, other = smooth(0), smooth(1)
    b = (1 - mix) * a + mix * other
    return np.stack([120 + amplitude * a / a.std(), 120 + amplitude * b / b.std()]
                    ).round().clip(0, 255).astype(np.uint8)


def test_two_faint_pictures_earn_little_slack_from_their_small_difference(monkeypatch):
    from labelclean.dedupe import verify
    from labelclean.dedupe.neighbors import Pairs

    skies = _faint_pair(0.2, 3.0)  # two faint skies: 3 grey levels, a fifth different
    pair = Pairs(np.array([0]), np.array([1]), np.array([1.0]))
    corr, diff = thumbnail_similarity(skies[[0]], skies[[1]])
    assert 0.92 < corr[0] < 0.95 and diff[0] < 1.0  # close in percent of the brightness
    assert verify.contrast(skies)[0] < 3.0
    assert not verify.verify_pairs(skies, pair)[0][0]
    monkeypatch.setattr(verify, "FULL_SLACK_CONTRAST", 1.0)  # the old rule: full slack
    assert verify.verify_pairs(skies, pair)[0][0]
