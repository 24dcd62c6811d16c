"""Duplicates of real photos: no chaining, photo verification, leaks, user groups in folds.

The photos are scikit-learn's bundled sample images (china.jpg, flower.jpg), cropped and
changed here; nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance, ImageOps

from labelclean.dedupe.neighbors import hamming_pairs
from labelclean.dedupe.options import DedupeOptions
from labelclean.dedupe.stage import dedupe_workdir
from labelclean.dedupe.stars import WAVE_START, star_groups
from labelclean.io.dataset import load_dataset
from labelclean.io.dedupe_files import LEAKS_COLUMNS, RELATED_COLUMNS, read_leaks, read_related
from labelclean.scan.stage import scan_dataset


@pytest.fixture(scope="module")
def photos():
    from sklearn.datasets import load_sample_images

    return [Image.fromarray(a) for a in load_sample_images().images]  # china, flower


def _crop(img: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """``box`` = (left, top, right, bottom) as fractions of the side, resized to 320 wide."""
    w, h = img.size
    part = img.crop((int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)))
    return part.resize((320, round(320 * part.height / part.width)), Image.Resampling.LANCZOS)


def _dedupe(folder, tmp_path, **options):
    wd = tmp_path / "wd"
    scan_dataset(load_dataset(folder), wd)
    result = dedupe_workdir(wd, options=DedupeOptions(**options), force=True)
    groups = [set(rows["image_id"]) for _, rows in result.table.groupby("group_id")]
    return result, groups, wd


def _together(groups, a, b) -> bool:
    return any({a, b} <= g for g in groups)


def test_star_groups_never_chain():
    # 0~1, 1~2 confirmed, 0 and 2 are not copies: 1 is kept first and takes 0; 2 cannot join
    n, i, j = 3, np.array([0, 1]), np.array([1, 2])
    stars = star_groups(n, i, j, np.array([0.9, 0.95]), priority=np.array([1, 0, 2]),
                        twin=np.zeros(2, bool), check=lambda a, b: np.zeros(len(a), bool))
    assert stars.labels[0] != stars.labels[2] or stars.labels[0] < 0
    assert stars.related.sum() == 1  # the pair left out of the group is kept, not dropped
    joined = star_groups(n, i, j, np.array([0.9, 0.95]), priority=np.array([1, 0, 2]),
                         twin=np.zeros(2, bool), check=lambda a, b: np.ones(len(a), bool))
    assert len(set(joined.labels)) == 1 and not joined.related.any()  # all three are copies


def test_a_copy_taken_early_moves_to_the_original_it_is_more_alike_to():
    # 0 is kept first and takes 2, an overlapping picture within the tolerance (0.97);
    # 2 is a copy of 1 (0.999), which is then left with nothing free. 0 and 1 are not
    # copies. The copy moves to its original; 0 is left in no group, its pair related
    n, i, j = 3, np.array([0, 1]), np.array([2, 2])
    stars = star_groups(n, i, j, np.array([0.97, 0.999]), priority=np.array([0, 1, 2]),
                        twin=np.zeros(2, bool), check=lambda a, b: np.zeros(len(a), bool))
    assert stars.labels[1] == stars.labels[2] >= 0 and stars.labels[0] < 0
    assert stars.keepers.tolist() == [1] and stars.related.tolist() == [True, False]
    # a copy more alike to its keeper stays
    stays = star_groups(n, i, j, np.array([0.999, 0.97]), priority=np.array([0, 1, 2]),
                        twin=np.zeros(2, bool), check=lambda a, b: np.zeros(len(a), bool))
    assert stays.labels[0] == stays.labels[2] >= 0 and stays.labels[1] < 0
    # and so does one more alike to another member than to the free image (2 ~ 3 at 0.999)
    i, j = np.array([0, 0, 2, 1]), np.array([2, 3, 3, 2])
    kept = star_groups(4, i, j, np.array([0.96, 0.97, 0.999, 0.99]), np.arange(4),
                       np.zeros(4, bool), check=lambda a, b: np.zeros(len(a), bool))
    assert kept.labels[0] == kept.labels[2] == kept.labels[3] >= 0 and kept.labels[1] < 0
    # a moved copy stays with its new partner: 3 goes from 0 (0.97) to 1 (0.99), and 2
    # (0.98, less alike than 1) does not take it on
    i, j = np.array([0, 1, 2]), np.array([3, 3, 3])
    moved = star_groups(4, i, j, np.array([0.97, 0.99, 0.98]), np.arange(4),
                        np.zeros(3, bool), check=lambda a, b: np.zeros(len(a), bool))
    assert moved.labels[1] == moved.labels[3] >= 0 and (moved.labels[[0, 2]] < 0).all()


def test_star_groups_check_only_the_pairs_a_group_asks_about():
    # keeper 0 and its m copies 1..m (enough pairs among them for a call of their own);
    # copy 1 has two more copies, 90 and 91, confirmed with nothing else: 0 takes 1, so
    # nothing asks whether 90 and 91 are copies of each other, and they are never checked
    # (every image's copies were checked in pairs before the checks followed the groups)
    m = next(k for k in range(2, 99) if k * (k - 1) // 2 >= WAVE_START)
    i = np.r_[np.zeros(m, np.int64), 1, 1]
    j = np.r_[np.arange(1, m + 1), 90, 91]
    asked = []

    def check(a, b):
        asked.extend(zip(a.tolist(), b.tolist()))
        return np.ones(len(a), bool)

    stars = star_groups(92, i, j, np.r_[np.ones(m), 0.5, 0.5], priority=np.arange(92),
                        twin=np.zeros(m + 2, bool), check=check)
    assert (stars.labels[: m + 1] == stars.labels[0]).all() and stars.labels[0] >= 0
    assert (stars.labels[[90, 91]] < 0).all() and stars.related.sum() == 2
    assert len(asked) == m * (m - 1) // 2 and not {90, 91} & {x for p in asked for x in p}


def test_star_groups_stop_at_the_size_limit():
    n = 12
    i, j = np.zeros(n - 1, np.int64), np.arange(1, n)
    stars = star_groups(n, i, j, np.ones(n - 1), np.arange(n), np.zeros(n - 1, bool),
                        check=lambda a, b: np.ones(len(a), bool), large=5)
    assert (stars.labels == 0).sum() == 5 and stars.large[0]
    assert stars.related.sum() == n - 5


def test_a_keepers_copies_join_by_the_correlation_that_confirmed_them():
    # keeper 0 (the largest image) has a whole copy 1, found by its hash (similarity
    # 0.9375), and a look-alike 2, found as a thumbnail neighbour (cosine 0.98); 1 and 2
    # are not copies of each other. The hash's similarity and the cosine are not on one
    # scale: the correlations the thumbnail check confirmed them with are (0.999, 0.97),
    # and the copy joins, the look-alike stays out
    from labelclean.dedupe.confirm import star_groups_of

    index = pd.DataFrame({"width": [300, 200, 200], "height": [300, 200, 200],
                          "bytes": [9, 5, 5]})
    confirmed = pd.DataFrame({"i": [0, 0], "j": [1, 2], "method": ["phash", "thumbnail"],
                              "score": [0.9375, 0.98], "likeness": [0.999, 0.97]})
    rng = np.random.default_rng(0)
    thumbs = rng.integers(0, 256, (3, 32, 32), dtype=np.uint8)  # 1 and 2 are unlike
    opts = DedupeOptions()
    stars = star_groups_of(index, confirmed, thumbs, opts, None)
    assert stars.labels[1] == stars.labels[0] >= 0 and stars.labels[2] < 0
    by_score = star_groups_of(index, confirmed.drop(columns="likeness"), thumbs, opts, None)
    assert by_score.labels[2] == by_score.labels[0] >= 0 and by_score.labels[1] < 0


def test_confirm_ranks_plain_pairs_by_the_thumbnail_checks_correlation():
    from labelclean.dedupe.confirm import confirm, pair_frame, with_plain_hints
    from labelclean.dedupe.neighbors import Pairs
    from labelclean.dedupe.verify import thumbnail_similarity

    rng = np.random.default_rng(1)
    base = np.asarray(Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8))
                      .resize((32, 32), Image.Resampling.BICUBIC))
    thumbs = np.stack([base, np.clip(base.astype(int) + 3, 0, 255).astype(np.uint8)])
    frame = with_plain_hints(pair_frame(Pairs(np.array([0]), np.array([1]),
                                              np.array([0.9375], np.float32)), "phash"))
    ok, score, likeness = confirm(thumbs, frame, DedupeOptions())
    corr, _ = thumbnail_similarity(thumbs[[0]], thumbs[[1]], DedupeOptions().max_shift)
    assert ok[0] and score[0] == pytest.approx(0.9375)  # the candidate's score, reported
    assert likeness[0] == pytest.approx(float(corr[0])) and likeness[0] > 0.99


def test_a_chain_of_overlapping_crops_is_not_one_group(photos, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    china = photos[0]
    # B the middle of the photo; A and C crops of B, 7.5 % of its width off its right and
    # left side: copies of B, but A and C are 8 % apart, each holding what the other lacks
    # (not a window of one another), so not copies of each other
    _crop(china, (0.10, 0.1, 0.84, 0.9)).save(folder / "a.jpg", quality=92)
    _crop(china, (0.10, 0.1, 0.90, 0.9)).resize((400, 400)).save(folder / "b.jpg", quality=92)
    _crop(china, (0.16, 0.1, 0.90, 0.9)).save(folder / "c.jpg", quality=92)
    result, groups, wd = _dedupe(folder, tmp_path)
    assert not _together(groups, "a.jpg", "c.jpg")
    assert groups  # B took one of them as its copy
    related = read_related(wd)
    assert list(related.columns) == RELATED_COLUMNS
    pairs = {frozenset(p) for p in zip(related["image_id"], related["other_id"])}
    assert pairs & {frozenset(("a.jpg", "b.jpg")), frozenset(("b.jpg", "c.jpg"))}
    assert result.summary["related_pairs"] == len(related)


def _photo_copies(photos, folder):
    """Originals (crops of the two photos) and their copies; returns the true pairs."""
    china, flower = photos
    bases = {"sky.jpg": _crop(china, (0.05, 0.3, 0.55, 0.9)),
             "temple.jpg": _crop(china, (0.45, 0.1, 0.95, 0.7)),
             "flower.jpg": _crop(flower, (0.1, 0.1, 0.7, 0.8)),
             "petals.jpg": _crop(flower, (0.4, 0.2, 0.95, 0.95))}
    for name, img in bases.items():
        img.save(folder / name, quality=92)
    temple, flo, petals, sky = (bases[k] for k in ("temple.jpg", "flower.jpg", "petals.jpg",
                                                    "sky.jpg"))
    shifted = Image.new("RGB", temple.size)
    shifted.paste(temple, (6, 4))
    w, h = flo.size
    copies = {
        "bright.jpg": ("temple.jpg", ImageEnhance.Brightness(temple).enhance(1.3)),
        "border.jpg": ("temple.jpg", None),
        "crop10.jpg": ("flower.jpg", flo.crop((w // 10, h // 10, w - w // 10, h - h // 10))),
        "squeezed.jpg": ("petals.jpg", petals.resize((200, 200))),
        "gamma.jpg": ("sky.jpg", sky.point([int(255 * (v / 255) ** 0.6) for v in range(256)]
                                           * 3)),
        "mirror.jpg": ("flower.jpg", ImageOps.mirror(flo)),
    }
    for name, (_, img) in copies.items():
        (shifted if name == "border.jpg" else img).save(folder / name, quality=90)
    # another crop of the same scene, shifted by 35 %: not a copy
    _crop(china, (0.62, 0.1, 1.0, 0.7)).save(folder / "other_crop.jpg", quality=92)
    return {name: source for name, (source, _) in copies.items()}


def test_a_shifted_window_found_one_grid_step_off_is_a_translation():
    from labelclean.dedupe.photo import translated

    windows = np.array([[0.0125, 1.025, -0.025, 0.975],  # 1 step wider: still a shift
                        [0.0125, 1.0125, 0.0, 1.0],      # a pure shift
                        [0.05, 0.95, 0.05, 0.95],        # a crop of 5 % a side
                        [0.0, 1.0, 0.0, 1.0],            # the whole image
                        [0.003, 1.003, 0.0, 1.0]], np.float32)  # within the search's error
    assert translated(windows, np.ones(5, bool)).tolist() == [True, True, False, False, False]
    assert not translated(windows, np.zeros(5, bool)).any()  # no border came in


def test_photo_copies_are_found_and_other_crops_are_not(photos, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    truth = _photo_copies(photos, folder)
    _, groups, _ = _dedupe(folder, tmp_path)
    for copy, source in truth.items():
        if copy != "mirror.jpg":
            assert _together(groups, copy, source), copy
    assert not _together(groups, "mirror.jpg", "flower.jpg")  # flips are off by default
    assert not any("other_crop.jpg" in g for g in groups)
    assert not _together(groups, "sky.jpg", "temple.jpg")
    _, flipped, _ = _dedupe(folder, tmp_path, flips=True)
    assert _together(flipped, "mirror.jpg", "flower.jpg")


def test_a_faint_photo_and_its_resized_copy_are_compared(photos, tmp_path):
    # a photo at 4 % of its contrast (a moon's surface, a haze): its thumbnails vary by
    # 2-3 grey levels, under the old structure limit of 3; its half-size copy is a copy,
    # another faint crop of the same photo is not
    from labelclean.dedupe.align import LOW_INFORMATION, spread
    from labelclean.io.formats import read_thumbs

    folder = tmp_path / "images"
    folder.mkdir()

    def faint(box):
        return ImageEnhance.Contrast(_crop(photos[0], box)).enhance(0.04)

    img = faint((0.1, 0.3, 0.6, 0.8))
    img.save(folder / "faint.jpg", quality=92)
    img.resize((img.width // 2, img.height // 2)).save(folder / "faint_half.jpg", quality=92)
    faint((0.45, 0.35, 0.95, 0.85)).save(folder / "faint_other.jpg", quality=92)
    _, groups, wd = _dedupe(folder, tmp_path)
    levels = spread(read_thumbs(wd))
    assert ((levels >= LOW_INFORMATION) & (levels < 3.0)).all()
    assert _together(groups, "faint.jpg", "faint_half.jpg")
    assert not any("faint_other.jpg" in g for g in groups)


def test_photo_checks_in_worker_processes_decide_as_one_process(photos, tmp_path,
                                                                 monkeypatch):
    from labelclean.dedupe import checkpool
    from labelclean.dedupe import confirm as confirming
    from labelclean.dedupe.neighbors import Pairs
    from labelclean.dedupe.photo import DetailImages
    from labelclean.io.formats import read_index, read_thumbs

    folder = tmp_path / "images"
    folder.mkdir()
    truth = _photo_copies(photos, folder)
    wd = tmp_path / "wd"
    scan_dataset(load_dataset(folder), wd)
    index, thumbs = read_index(wd), read_thumbs(wd)
    i, j = np.triu_indices(len(index), 1)  # every pair, as photo-check candidates
    frame = confirming.with_plain_hints(confirming.pair_frame(
        Pairs(i, j, np.zeros(len(i), np.float32)), "thumbnail")).assign(source="window")
    paths = [folder / p for p in index["path"]]
    monkeypatch.setattr(checkpool, "CHUNK", 8)  # several chunks: the pool runs them
    monkeypatch.setattr(checkpool, "MIN_CHUNK", 4)
    opts = DedupeOptions()
    alone, alone_score, _ = confirming.confirm(thumbs, frame, opts, DetailImages(paths, workers=1))
    heard = []
    detail = DetailImages(paths, workers=2)
    pooled, pooled_score, _ = confirming.confirm(thumbs, frame, opts, detail,
                                              lambda done, total, _: heard.append((done, total)))
    ids = index["image_id"].to_numpy()
    found = {frozenset((ids[a], ids[b])) for a, b in zip(i[pooled], j[pooled])}
    assert frozenset(("crop10.jpg", "flower.jpg")) in found
    assert len(found & {frozenset(p) for p in truth.items()}) >= len(truth) - 1
    assert pooled.tolist() == alone.tolist()
    assert np.array_equal(pooled_score, alone_score)
    chunks = heard[-1][1]
    assert chunks >= 2 and heard == [(k, chunks) for k in range(1, chunks + 1)]
    # the second-look images were decoded in this process's cache, before the pool started
    assert set(i[pooled]) | set(j[pooled]) <= set(detail.cache)


def test_hash_pairs_stay_bounded_in_a_cluster_of_identical_hashes():
    codes = np.zeros((600, 8), np.uint8)  # 600 near-blank images: one hash
    found = hamming_pairs(codes, 10, max_neighbours=16)
    assert len(found) <= 600 * 17  # each row its 16 nearest (and itself): not 600 * 599 / 2
    assert len(found) >= 600 * 16 // 2


def test_dedupe_against_another_set_writes_leaks(photos, tmp_path, cli):
    train, test = tmp_path / "train", tmp_path / "test"
    train.mkdir()
    test.mkdir()
    china, flower = photos
    held_out = _crop(flower, (0.1, 0.1, 0.7, 0.8))
    held_out.save(test / "t1.jpg", quality=92)
    _crop(china, (0.4, 0.1, 0.9, 0.6)).save(test / "t2.jpg", quality=92)
    w, h = held_out.size
    held_out.crop((w // 20, h // 20, w - w // 20, h - h // 20)).save(train / "crop5.jpg",
                                                                      quality=88)
    (train / "same.jpg").write_bytes((test / "t2.jpg").read_bytes())
    _crop(china, (0.0, 0.3, 0.5, 0.9)).save(train / "other.jpg", quality=92)
    before = sorted(p.name for p in test.iterdir())
    assert cli("scan", "--images", train, "--workdir", tmp_path / "wd").exit_code == 0
    done = cli("dedupe", "--workdir", tmp_path / "wd", "--against", test)
    assert done.exit_code == 0, done.output
    leaks = read_leaks(tmp_path / "wd")
    assert list(leaks.columns) == LEAKS_COLUMNS
    assert dict(zip(leaks["image_id"], leaks["other_path"])) == {"crop5.jpg": "t1.jpg",
                                                                 "same.jpg": "t2.jpg"}
    assert set(leaks.loc[leaks["image_id"] == "same.jpg", "method"]) == {"exact"}
    assert sorted(p.name for p in test.iterdir()) == before  # the other set is untouched


def test_leak_findings_review_by_default_drop_when_asked():
    from labelclean.noise.decide import FINDINGS, decide, reasons

    base = {name: np.zeros(2, bool) for name in FINDINGS}
    leak = np.array([True, False])
    review = decide({**base, "leak": leak, "leak_review": leak, "leak_drop": ~leak & False})
    drop = decide({**base, "leak": leak, "leak_drop": leak, "leak_review": leak & False})
    assert list(review) == ["review", "keep"] and list(drop) == ["drop", "keep"]
    why = reasons(pd.Series(["", ""]), {**base, "leak": leak})
    assert list(why) == ["leak", ""]
    copies = {**base, "duplicate_copy": np.array([True, True])}
    untrusted = decide({**copies, "large_group": leak})  # a group over the size limit
    assert list(untrusted) == ["review", "drop"]


def test_user_groups_never_straddle_folds(tmp_path):
    from labelclean.io.groups import read_groups
    from labelclean.oof.folds import duplicate_groups, make_folds

    rng = np.random.default_rng(0)
    n = 240
    ids = [f"img{i}.jpg" for i in range(n)]
    patients = [f"p{rng.integers(30)}" for _ in range(n)]
    labels = rng.integers(0, 3, n)
    table = pd.DataFrame({"image_id": ids, "label": labels, "patient_id": patients})
    table.to_csv(tmp_path / "train.csv", index=False)
    user = read_groups(tmp_path / "train.csv", "image_id", "patient_id", ids)
    assert list(user) == patients
    # two copies of one image held by different patients: their patients share a fold too
    dup = pd.DataFrame({"group_id": [1, 1], "image_id": [ids[0], ids[1]]})
    groups = duplicate_groups(ids, None, dup, user)
    folds = make_folds(labels, groups, n_folds=5, seed=0)
    for key in set(patients) | {"copies"}:
        members = ([ids.index(ids[0]), 1] if key == "copies" else
                   [k for k, p in enumerate(patients) if p == key])
        assert len(set(folds[members])) == 1, key
    assert len(set(folds[[k for k, p in enumerate(patients) if p in (patients[0],
                                                                      patients[1])]])) == 1


def test_init_group_col_is_written_and_checked(cli, tmp_path):
    from labelclean.config.project import read_project

    images = tmp_path / "imgs"
    images.mkdir()
    for k in range(4):
        Image.new("RGB", (8, 8), (k * 40, 0, 0)).save(images / f"{k}.png")
    pd.DataFrame({"image_id": [f"{k}.png" for k in range(4)], "label": [0, 1, 0, 1],
                  "patient_id": ["a", "a", "b", ""]}).to_csv(tmp_path / "t.csv", index=False)
    done = cli("init", "--images", images, "--labels", tmp_path / "t.csv", "--group-col",
               "patient_id")
    assert done.exit_code == 0, done.output
    assert "2 groups in patient_id" in done.output
    project = read_project(tmp_path / "labelclean.toml", schema={})
    assert project.dataset.group_col == "patient_id"
    bad = cli("init", "--images", images, "--labels", tmp_path / "t.csv", "--group-col",
              "patient")
    assert bad.exit_code == 1
    assert "has no column 'patient'" in bad.stderr and "--group-col" in bad.stderr


def test_bench_leaks_runs_on_tiny_sets(example, tmp_path, capsys):
    example("bench_leaks").main(["--out", str(tmp_path / "leaks"), "--test", "14"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| labelclean"))
    recall = float(row.split("|")[5])
    assert recall >= 0.8


def test_bench_leaks_says_when_the_photos_are_too_few(example, tmp_path):
    with pytest.raises(SystemExit, match="needs more than 100000 photo crops"):
        example("bench_leaks").main(["--out", str(tmp_path / "leaks"), "--test", "100000"])


@pytest.mark.slow
def test_bench_photo_dupes_runs_on_tiny_sets(example, tmp_path, capsys):
    example("bench_photo_dupes").main(["--out", str(tmp_path / "photo"), "--copies", "1"])
    out = capsys.readouterr().out
    assert "### defaults" in out and "### --flips --rotations" in out
    assert "| crop | 10 % a side |" in out


def test_bench_faint_crops_scores_copies_and_false_pairs(example, tmp_path, capsys):
    bench = example("bench_faint_crops")
    truth = pd.DataFrame({"image_id": ["a.jpg", "half_a.jpg", "b.jpg", "c.jpg"],
                          "source": ["sky", "sky", "sky", "wall"],
                          "base": ["a.jpg", "a.jpg", "b.jpg", "c.jpg"]})
    result = bench.score(truth, [["a.jpg", "half_a.jpg", "b.jpg"], ["c.jpg"]])
    assert (result["found"], result["planted"]) == (1, 1)
    # a~b and half_a~b are false pairs: all of the sky's pairs of images of two crops
    assert len(result["false"]) == 2 and result["negatives"] == 2
    assert result["by_photo"].to_dict() == {"sky": 2}
    bench.main(["--out", str(tmp_path / "faint"), "--per-photo", "1", "--dark", "3"])
    out = capsys.readouterr().out
    assert "planted copies found:" in out and "pairs of different crops of one photo" in out
    assert "dark frames grouped: 0 of 3" in out


def test_photo_benchmark_counts_chance_crops_of_each_other_as_copies(example):
    photo_set = example("_photo_set")
    assert photo_set.crop_related("0 0 100 100", "5 5 95 95")  # 5 % a side
    assert photo_set.crop_related("12 0 100 88", "10 0 100 90")  # 2 % off two sides
    assert not photo_set.crop_related("0 0 100 100", "20 0 120 100")  # moved 20 %
    assert not photo_set.crop_related("0 0 100 100", "0 0 70 100")  # 30 % cut off
    truth = pd.DataFrame({
        "image_id": ["a", "copy_a", "b", "c", "d"], "duplicate_of": ["", "a", "", "", ""],
        "source": ["s", "s", "s", "s", "t"],
        "box": ["0 0 100 100", "0 0 100 100", "4 4 96 96", "50 0 150 100", "0 0 100 100"]})
    found = photo_set.also_copies(truth.fillna(""))
    # b is a crop of a (and so of a's copy); c overlaps by half; d is another photo
    assert found == {frozenset(("a", "b")), frozenset(("copy_a", "b"))}


def test_photo_benchmark_takes_flat_regions_apart(example):
    photo_set = example("_photo_set")
    sky = Image.fromarray(np.full((300, 400, 3), 200, np.uint8))  # flat everywhere
    boxes = photo_set._flat_boxes(sky, np.random.default_rng(0), 2)
    assert len(boxes) == 2 and photo_set._iou(*boxes) <= 0.25  # two skies, not one moved


def _texture(n: int = 384) -> np.ndarray:
    """(n, n) uint8 fine texture (like grass seen from above) under a faint light gradient."""
    noise = np.random.default_rng(0).normal(0, 1, (64, 64)).astype(np.float32)
    tex = np.asarray(Image.fromarray(noise).resize((n, n), Image.Resampling.BICUBIC))
    tex = (tex - tex.min()) / np.ptp(tex)
    light = np.linspace(0, 1, n)[None, :] * np.linspace(0.5, 1, n)[:, None]
    return (255 * np.clip(0.9 * tex + 0.1 * light, 0, 1)).astype(np.uint8)


def test_a_pair_best_matched_mirrored_keeps_its_untransformed_hint_too():
    # 1 is more its mirror image than itself: with flips on, its best window hint against
    # 0 is mirrored, and the untransformed one is kept as well, for the check to try
    from labelclean.dedupe.align import transform_names
    from labelclean.dedupe.photo import window_candidates

    rng = np.random.default_rng(3)

    def smooth() -> np.ndarray:
        cells = Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8))
        return np.asarray(cells.resize((32, 32), Image.Resampling.BICUBIC)).astype(float)

    base = smooth()
    mixed = 0.65 * base[:, ::-1] + 0.35 * base
    thumbs = np.stack([base, mixed] + [smooth() for _ in range(6)]).astype(np.uint8)
    names = transform_names(True, False)
    hints = window_candidates(thumbs, np.arange(len(thumbs)), names)
    pair = [frozenset((a, b)) == {0, 1} for a, b in zip(hints.a, hints.b)]
    ours = [names[t] for t, mine in zip(hints.transform, pair) if mine]
    assert sorted(ours) == ["flip_lr", "none"]
    plain = window_candidates(thumbs, np.arange(len(thumbs)), ("none",))
    assert sum(frozenset((a, b)) == {0, 1} for a, b in zip(plain.a, plain.b)) == 1


def test_a_cropped_texture_passes_the_first_test_at_a_rough_hint():
    from labelclean.dedupe import align
    from labelclean.dedupe.photo import ROUGH

    pic = _texture()
    n = len(pic)
    crop = pic[int(0.02 * n):n - int(0.06 * n), int(0.07 * n):n - int(0.03 * n)]

    def thumb(a):
        return np.asarray(Image.fromarray(a).resize((32, 32), Image.Resampling.BOX))[None]

    hint = np.array([[0.05, 0.95, 0.05, 0.95]], np.float32)  # the search's 5 % crop window
    view = align.window_views(thumb(pic), hint, 16)
    plain = align._correlation(align._inner(view), align._inner(align.shrink(thumb(crop), 16)))
    assert plain[0] < ROUGH  # pixel by pixel the texture no longer lines up ...
    assert align.rough_correlation(thumb(pic), thumb(crop), hint)[0] >= ROUGH  # its light does


def _bricks(n: int = 384, period: int = 24, seed: int = 0) -> np.ndarray:
    """(n, n) uint8 brick wall: mortar lines every ``period`` px (joints offset row by
    row), grainy bricks; even light, so smoothing it leaves nothing to correlate."""
    y, x = np.mgrid[0:n, 0:n]
    mortar = (y % period < 4) | ((x + (y // period) % 2 * period) % (2 * period) < 4)
    grain = np.random.default_rng(seed).normal(0, 12, (n, n))
    return np.clip(np.where(mortar, 200, 90) + grain, 0, 255).astype(np.uint8)


def test_a_shifted_brick_wall_passes_the_first_test_at_a_moved_hint(monkeypatch):
    from labelclean.dedupe import photo

    wall = _bricks()
    shifted = np.zeros_like(wall)
    shifted[12:, 12:] = wall[:-12, :-12]  # 3 % of the side, a black border left
    thumbs = np.stack([np.asarray(Image.fromarray(a).resize((32, 32), Image.Resampling.BOX))
                       for a in (wall, shifted, _bricks(period=31, seed=1))])
    hints = photo.Hints(np.array([0, 0]), np.array([1, 2]), np.tile(photo._IDENTITY, (2, 1)),
                        np.zeros(2, np.int64))
    assert photo._roughly_alike(thumbs[hints.a], thumbs[hints.b], hints).tolist() == [True, False]
    assert photo.verify_photo_pairs(thumbs, hints)[0].tolist() == [True, False]
    monkeypatch.setattr(photo, "HINT_MOVES", (0.0,))  # at the hint alone, the joints cross
    assert not photo._roughly_alike(thumbs[hints.a], thumbs[hints.b], hints).any()


def test_histogram_matching_gives_a_clipped_region_one_value():
    from labelclean.dedupe.align import _matched

    a = np.array([[255.0, 255.0, 255.0, 10.0, 20.0]], np.float32)  # three clipped pixels
    b = np.array([[200.0, 220.0, 240.0, 30.0, 40.0]], np.float32)
    out = _matched(a, b)
    assert out[0, :3].tolist() == [220.0, 220.0, 220.0]  # one value, not a ramp by position
    assert out[0, 3:].tolist() == [30.0, 40.0]


def test_a_window_past_the_edge_needs_a_border_in_the_copy():
    from labelclean.dedupe.borders import OVERREACH, bordered

    rng = np.random.default_rng(0)
    copy = rng.integers(40, 220, (2, 64, 64)).astype(np.uint8)
    copy[0, :, :4] = 0  # a shifted copy: a black strip on its left
    past = np.array([[0.0, 1.0, -0.06, 0.94]] * 2, np.float32)  # 6 % past the left edge
    assert bordered(copy, past, OVERREACH).tolist() == [True, False]
    within = np.array([[0.0, 1.0, -0.02, 0.98]] * 2, np.float32)  # within the accuracy
    assert bordered(copy, within, OVERREACH).tolist() == [True, True]


def test_a_window_pressed_against_the_narrowest_search_window_is_not_a_copy():
    from labelclean.dedupe.align import MIN_WIDTH
    from labelclean.dedupe.borders import plausible

    copy = np.random.default_rng(1).integers(40, 220, (2, 64, 64)).astype(np.uint8)
    windows = np.array([[0.1, 0.9, 0.05, 0.95],                     # a crop of 10 % a side
                        [0.13, 0.13 + MIN_WIDTH, 0.0, 1.0]], np.float32)  # at the limit
    assert plausible(copy, windows).tolist() == [True, False]


def test_the_second_look_stops_only_windows_that_cannot_end_plausible():
    from labelclean.dedupe import align
    from labelclean.dedupe.borders import give_up, plausible

    rng = np.random.default_rng(2)
    copy = rng.integers(40, 220, (2, 64, 64)).astype(np.uint8)
    copy[1, :, :3] = 0  # a shifted copy's black border on the left
    past = np.array([[0.0, 1.0, -0.05, 0.95]] * 2, np.float32)  # 5 % past the left edge
    stop = give_up(copy)
    # one finest step left to move: the textured copy cannot get within OVERREACH, and
    # ends implausible however it moves; the bordered one may be a shifted copy
    assert stop(np.arange(2), past, 0.0094).tolist() == [True, False]
    assert plausible(copy, past).tolist() == [False, True]
    assert stop(np.arange(2), past, 0.03).tolist() == [False, False]  # could still get in
    # a search that never stops finds the same windows as one without the early stop
    orig = rng.integers(0, 255, (3, 64, 64)).astype(np.float32)
    hint = np.tile(np.array([0.05, 0.95, 0.0, 1.0], np.float32), (3, 1))
    never = align.align(orig, orig[:, 2:62, 2:62], hint)
    found, stopped = align.align(orig, orig[:, 2:62, 2:62], hint,
                                 give_up=lambda rows, w, reach: np.zeros(len(rows), bool))
    assert np.array_equal(never, found) and not stopped.any()
    _, stopped = align.align(orig, orig[:, 2:62, 2:62], hint,
                             give_up=lambda rows, w, reach: rows == 1)
    assert stopped.tolist() == [False, True, False]


def test_photo_checks_spread_a_batch_over_the_workers():
    from labelclean.dedupe.checkpool import CHUNK, MIN_CHUNK, PhotoChecks

    thumbs = np.zeros((1, 32, 32), np.uint8)
    four = PhotoChecks(thumbs, None, workers=4)
    assert [len(c) for c in four.chunks(np.arange(1000))] == [250] * 4
    assert [len(c) for c in four.chunks(np.arange(200))] == [MIN_CHUNK, 200 - MIN_CHUNK]
    assert max(len(c) for c in four.chunks(np.arange(5 * CHUNK))) == CHUNK
    assert np.concatenate(four.chunks(np.arange(1000))).tolist() == list(range(1000))
    one = PhotoChecks(thumbs, None, workers=1)
    assert [len(c) for c in one.chunks(np.arange(1000))] == [1000]
