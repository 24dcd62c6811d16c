"""Reading OOF files in every accepted format, and each validation error's exact message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelclean.arrays import softmax
from labelclean.errors import OOFError, RegistryError
from labelclean.oof.align import align_oof, load_oof, suspicious_warning
from labelclean.oof.ensemble import combine_oof
from labelclean.oof.files import read_oof

CLASSES = [0, 1, 2]
IDS = np.array([f"img{i}.jpg" for i in range(6)], dtype=object)
PROBS = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6],
                  [0.5, 0.25, 0.25], [0.05, 0.05, 0.9], [0.3, 0.6, 0.1]])


def frame(columns: list[str], probs: np.ndarray = PROBS, ids=IDS, **extra) -> pd.DataFrame:
    df = pd.DataFrame(probs, columns=columns)
    df.insert(0, "image_id", ids)
    for name, values in extra.items():
        df[name] = values
    return df


def write(df: pd.DataFrame, path) -> str:
    df.to_csv(path, index=False)
    return str(path)


def test_labelclean_oof_csv_reads_with_no_options(tmp_path):
    df = frame(["0", "1", "2"])
    df.insert(1, "label", [0, 1, 2, 0, 2, 1])
    df.insert(2, "fold", [0, 1, 2, 0, 1, 2])
    table = read_oof(write(df, tmp_path / "oof.csv"), CLASSES)
    np.testing.assert_allclose(table.probs, PROBS)
    assert table.ids.tolist() == IDS.tolist()
    assert table.labels.tolist() == ["0", "1", "2", "0", "2", "1"]


@pytest.mark.parametrize("style", ["prob_{}", "pred_{}", "{}_prob", "PROB_{}"])
def test_each_column_naming_style_is_mapped_to_class_order(tmp_path, style):
    order = [2, 0, 1]  # columns in another order than the classes
    df = frame([style.format(c) for c in order], probs=PROBS[:, order])
    table = read_oof(write(df, tmp_path / "oof.csv"), CLASSES)
    np.testing.assert_allclose(table.probs, PROBS)


def test_string_classes_and_numeric_looking_ids_stay_text(tmp_path):
    ids = np.array(["007", "010", "1", "2", "3", "4"], dtype=object)
    df = frame(["cbb_prob", "cmd_prob", "healthy_prob"], ids=ids)
    table = read_oof(write(df, tmp_path / "oof.csv"), ["cbb", "cmd", "healthy"])
    assert table.ids.tolist() == ["007", "010", "1", "2", "3", "4"]
    np.testing.assert_allclose(table.probs, PROBS)


def test_parquet(tmp_path):
    path = tmp_path / "oof.parquet"
    frame(["prob_0", "prob_1", "prob_2"], fold=[0, 1, 2, 3, 4, 0]).to_parquet(path)
    table = read_oof(path, CLASSES)
    np.testing.assert_allclose(table.probs, PROBS)
    assert table.ids.tolist() == IDS.tolist()


def test_npy_follows_labels_file_order(tmp_path):
    path = tmp_path / "oof.npy"
    np.save(path, PROBS)
    table = read_oof(path, CLASSES)
    assert table.ids is None
    aligned = align_oof(table, IDS, np.ones(6, bool))
    np.testing.assert_allclose(aligned, PROBS)


def test_npy_with_wrong_number_of_rows(tmp_path):
    path = tmp_path / "oof.npy"
    np.save(path, PROBS[:5])
    table = read_oof(path, CLASSES)
    with pytest.raises(OOFError) as exc:
        align_oof(table, IDS, np.ones(6, bool))
    assert str(exc.value) == (
        f"OOF file {path}: has 5 rows but the labels file has 6 labeled images; a .npy must "
        "hold one row per labeled image, in labels-file order")


def test_npy_must_be_two_dimensional(tmp_path):
    path = tmp_path / "oof.npy"
    np.save(path, PROBS.ravel())
    with pytest.raises(OOFError) as exc:
        read_oof(path, CLASSES)
    assert str(exc.value) == f"OOF file {path}: expected a 2-d array (N, K), found shape (18,)"


def test_logits_are_softmaxed_only_when_asked(tmp_path):
    logits = np.log(PROBS) + 3.0
    path = write(frame(["0", "1", "2"], probs=logits), tmp_path / "oof.csv")
    np.testing.assert_allclose(read_oof(path, CLASSES, logits=True).probs, PROBS)
    with pytest.raises(OOFError, match="if the file holds logits, set `logits`"):
        read_oof(path, CLASSES)


def test_logits_flag_on_probabilities_warns(tmp_path):
    path = write(frame(["0", "1", "2"]), tmp_path / "oof.csv")
    table = read_oof(path, CLASSES, logits=True)
    np.testing.assert_allclose(table.probs, softmax(PROBS.copy()))
    assert table.warnings == [(
        f"OOF file {path}: `logits` is set but the rows already look like probabilities "
        "(in [0, 1], summing to 1); soft-maxing flattens them: unset `logits` if they are "
        "probabilities")]


def test_accuracy_weights_raise_accuracy_over_the_log_loss_optimum():
    from labelclean.oof.ensemble import fit_accuracy_weights, fit_weights

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    # file a: right on every row but barely (argmax right, low confidence);
    # file b: confident, right on 80 % of rows and confidently wrong on the rest
    a = np.where(y[:, None] == np.arange(2), 0.55, 0.45)
    right = rng.random(400) < 0.8
    b_true = np.where(right, y, 1 - y)
    b = np.where(b_true[:, None] == np.arange(2), 0.99, 0.01)
    accuracy = lambda w: ((w[0] * a + w[1] * b).argmax(1) == y).mean()  # noqa: E731
    start = fit_weights([a, b], y)
    tuned = fit_accuracy_weights([a, b], y, start)
    assert tuned.sum() == pytest.approx(1.0) and (tuned >= 0).all()
    assert accuracy(tuned) == 1.0 > accuracy(start)
    climbed = fit_accuracy_weights([a, b], y, start, grid_files=0)  # many files: hill-climb
    assert climbed.sum() == pytest.approx(1.0) and accuracy(climbed) >= accuracy(start)


def test_several_files_mean_and_weighted(tmp_path):
    given = np.array([0, 1, 2, 0, 2, 1])
    good = np.eye(3)[given] * 0.9 + 0.1 / 3
    noise = np.full((6, 3), 1 / 3)
    a = write(frame(["0", "1", "2"], probs=good), tmp_path / "a.csv")
    b = write(frame(["prob_0", "prob_1", "prob_2"], probs=noise), tmp_path / "b.csv")
    mean = load_oof([a, b], CLASSES, IDS, given, np.ones(6, bool))
    np.testing.assert_allclose(mean.probs, (good + noise) / 2)
    assert mean.weights == [0.5, 0.5]
    weighted = load_oof([a, b], CLASSES, IDS, given, np.ones(6, bool), ensemble="weighted")
    assert weighted.weights[0] > 0.95  # the informative file gets (almost) all the weight
    np.testing.assert_allclose(weighted.probs.sum(axis=1), 1.0)


def test_unknown_ensemble():
    with pytest.raises(RegistryError) as exc:
        combine_oof([PROBS, PROBS], np.zeros(6, int), "median")
    assert str(exc.value) == ("unknown `ensemble` method 'median'; choose one of: accuracy, "
                              "mean, weighted")


def test_suspiciously_perfect_oof_is_a_warning_not_an_error():
    given = np.arange(300) % 3
    perfect = np.eye(3)[given] * 0.98 + 0.02 / 3
    assert suspicious_warning("OOF file x.csv", perfect, given) == (
        "OOF file x.csv: predictions agree with the given labels on 100.0% of images; "
        "out-of-fold predictions rarely do (were they made by models that trained on these "
        "images?); wrong labels will be missed")
    honest = perfect.copy()
    honest[:30] = perfect[:30, [1, 2, 0]]  # 10% disagree
    assert suspicious_warning("OOF file x.csv", honest, given) is None


# -- each validation error, exact message ------------------------------------------------------

def error_of(path, classes=CLASSES, **kw) -> str:
    with pytest.raises(OOFError) as exc:
        read_oof(path, classes, **kw)
    return str(exc.value)


def test_missing_ids(tmp_path):
    table = read_oof(write(frame(["0", "1", "2"]).iloc[2:], tmp_path / "oof.csv"), CLASSES)
    with pytest.raises(OOFError) as exc:
        align_oof(table, IDS, np.ones(6, bool))
    assert str(exc.value) == (
        f"OOF file {tmp_path / 'oof.csv'}: 2 of the dataset's 6 readable labeled images have "
        "no row or an empty one (first: img0.jpg, img1.jpg); predict every image of the "
        "labels file")


def test_unreadable_images_may_be_missing(tmp_path):
    table = read_oof(write(frame(["0", "1", "2"]).iloc[1:], tmp_path / "oof.csv"), CLASSES)
    required = np.array([False, True, True, True, True, True])
    aligned = align_oof(table, IDS, required)
    assert np.isnan(aligned[0]).all()
    np.testing.assert_allclose(aligned[1:], PROBS[1:])


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_empty_rows_are_accepted_for_unreadable_images_only(tmp_path, suffix):
    probs = PROBS.copy()
    probs[0] = np.nan  # an image nobody could predict: the file has an empty row for it
    path = tmp_path / f"oof{suffix}"
    if suffix == ".npy":
        np.save(path, probs)
    else:
        write(frame(["0", "1", "2"], probs=probs), path)
    table = read_oof(path, CLASSES)
    required = np.array([False, True, True, True, True, True])
    aligned = align_oof(table, IDS, required)
    assert np.isnan(aligned[0]).all()
    np.testing.assert_allclose(aligned[1:], PROBS[1:])
    with pytest.raises(OOFError, match=r"1 of the dataset's 6 readable labeled images have no "
                                       r"row or an empty one \(first: img0.jpg\)"):
        align_oof(table, IDS, np.ones(6, bool))


def test_extra_ids(tmp_path):
    ids = np.array(["img0.jpg", "x.jpg", "y.jpg", "z.jpg", "w.jpg", "img5.jpg"], dtype=object)
    table = read_oof(write(frame(["0", "1", "2"], ids=ids), tmp_path / "oof.csv"), CLASSES)
    with pytest.raises(OOFError) as exc:
        align_oof(table, IDS, np.zeros(6, bool))
    assert str(exc.value) == (
        f"OOF file {tmp_path / 'oof.csv'}: 4 ids are not labeled images of the dataset "
        "(first: x.jpg, y.jpg, z.jpg); predict on the same labels file, or set `oof_id_col` "
        "if another column holds the ids")


def test_duplicate_ids(tmp_path):
    ids = IDS.copy()
    ids[3] = "img0.jpg"
    path = write(frame(["0", "1", "2"], ids=ids), tmp_path / "oof.csv")
    assert error_of(path) == (f"OOF file {path}: id 'img0.jpg' appears 2 times; each image "
                              "needs exactly one row (average repeated predictions first)")


def test_wrong_number_of_class_columns(tmp_path):
    path = write(frame(["0", "1", "2"], extra=0.0), tmp_path / "oof.csv")
    assert error_of(path) == (
        f"OOF file {path}: expected 3 probability columns (one per class: 0, 1, 2), found 4: "
        "0, 1, 2, extra; name them by class value, prob_<class>, pred_<class> or "
        "<class>_prob")


def test_class_names_matching_no_label(tmp_path):
    path = write(frame(["prob_0", "prob_1", "prob_7"]), tmp_path / "oof.csv")
    assert error_of(path) == (
        f"OOF file {path}: column 'prob_7' matches no class of the labels file (classes: 0, "
        "1, 2); name them by class value, prob_<class>, pred_<class> or <class>_prob")


def test_two_columns_for_one_class(tmp_path):
    path = write(frame(["0", "prob_0", "2"]), tmp_path / "oof.csv")
    assert error_of(path) == (f"OOF file {path}: columns '0' and 'prob_0' both name class 0; "
                              "keep one column per class")


@pytest.mark.parametrize("bad", [np.nan, np.inf, "missing"])
def test_nan_inf_or_empty(tmp_path, bad):
    df = frame(["0", "1", "2"]).astype({"1": object})
    df.loc[2, "1"] = "" if bad == "missing" else bad
    path = write(df, tmp_path / "oof.csv")
    assert error_of(path) == (f"OOF file {path}: 1 rows hold NaN, empty or infinite values "
                              "(first: id 'img2.jpg'); re-predict or fill them")


def test_rows_not_summing_to_one(tmp_path):
    probs = PROBS.copy()
    probs[4] = [0.5, 0.5, 0.5]
    path = write(frame(["0", "1", "2"], probs=probs), tmp_path / "oof.csv")
    assert error_of(path) == (
        f"OOF file {path}: 1 rows do not sum to 1 (tolerance 0.01; first: id 'img4.jpg' sums "
        "to 1.5); if the file holds logits, set `logits`, otherwise normalise each row")


def test_rounded_rows_within_tolerance_are_normalised(tmp_path):
    path = write(frame(["0", "1", "2"], probs=PROBS + 0.002), tmp_path / "oof.csv")
    np.testing.assert_allclose(read_oof(path, CLASSES).probs.sum(axis=1), 1.0)


def test_negative_values(tmp_path):
    probs = PROBS.copy()
    probs[1] = [-0.1, 0.9, 0.2]
    path = write(frame(["0", "1", "2"], probs=probs), tmp_path / "oof.csv")
    assert error_of(path) == (
        f"OOF file {path}: 1 rows hold negative values (first: id 'img1.jpg', -0.1); "
        "probabilities must be >= 0; if the file holds logits, set `logits`")


def test_no_id_column(tmp_path):
    df = frame(["0", "1", "2"]).rename(columns={"image_id": "name"})
    path = write(df, tmp_path / "oof.csv")
    assert error_of(path) == (
        f"OOF file {path} has no id column (looked for image_id, id, image, filename, file, "
        "path; found name, 0, 1, 2); name it image_id or set `oof_id_col`")
    assert read_oof(path, CLASSES, id_col="name").ids.tolist() == IDS.tolist()


def test_unsupported_format_and_missing_file(tmp_path):
    path = tmp_path / "oof.xlsx"
    path.write_text("x")
    assert error_of(path) == (f"OOF file {path}: unsupported format '.xlsx'; expected .csv, "
                              ".parquet or .npy")
    assert error_of(tmp_path / "nope.csv") == (
        f"OOF file {tmp_path / 'nope.csv'} does not exist; pass the path of your out-of-fold "
        "predictions, or make them with 'labelclean oof'")


def test_text_in_a_probability_column(tmp_path):
    df = frame(["0", "1", "2"]).astype({"0": object})
    df.loc[0, "0"] = "high"
    path = write(df, tmp_path / "oof.csv")
    assert error_of(path).startswith(f"OOF file {path} cannot be parsed as CSV with numeric "
                                     "probability columns (")


def test_a_file_that_is_not_npy_says_so(tmp_path):
    path = tmp_path / "oof.npy"
    path.write_bytes(b"image_id,0,1,2\nimg0.jpg,0.2,0.3,0.5\n")
    assert error_of(path) == (f"OOF file {path} is not a NumPy .npy file (it has no .npy "
                              "header); save the (N, K) array with numpy.save, or pass a CSV "
                              "or Parquet")
