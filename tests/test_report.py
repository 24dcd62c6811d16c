"""The HTML report without a browser: its data, its safety, missing inputs, thumbnails, CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelclean.errors import ManifestError
from labelclean.io.dataset import load_class_names, load_dataset
from labelclean.report.build import build_report, script_json
from labelclean.report.data import encode_columns
from labelclean.scan.stage import scan_dataset

from .reportfiles import write_fake_results


def read_data_js(report_dir: Path) -> dict:
    text = (report_dir / "assets" / "data.js").read_text()
    prefix = "window.LABELCLEAN_DATA = "
    assert text.startswith(prefix) and text.endswith(";\n")
    return json.loads(text[len(prefix):-2])


def decode(table: dict) -> pd.DataFrame:
    cols = {}
    for name in table["columns"]:
        c = table["cols"][name]
        cols[name] = c["values"] if "values" in c else [c["dict"][k] for k in c["codes"]]
    return pd.DataFrame(cols, columns=table["columns"])


@pytest.fixture
def scanned(small_demo, tmp_path):
    """A scanned copy of the small demo: (demo, images folder, work directory)."""
    images = tmp_path / "train_images"
    shutil.copytree(small_demo.images, images)
    work = tmp_path / "work"
    scan_dataset(load_dataset(images, small_demo.labels), work, workers=1)
    return small_demo, images, work


def test_script_json_cannot_close_the_script_or_start_markup():
    value = {"id": "</script><img src=x onerror=alert(1)>&amp;\u2028\u2029\"'"}
    text = script_json(value)
    assert not set("<>&\u2028\u2029") & set(text)
    assert "\\u003c/script\\u003e" in text
    assert json.loads(text) == value
    with pytest.raises(ValueError):
        script_json({"q": float("nan")})


def test_encode_columns_keeps_every_cell_exactly():
    table = pd.DataFrame({"a": [f"id{i}" for i in range(100)], "b": ["x", "y, \"z\""] * 50,
                          "c": ["0.1000", "", "1e-05", "ü"] * 25})
    encoded = encode_columns(table)
    assert "values" in encoded["cols"]["a"] and "dict" in encoded["cols"]["b"]
    pd.testing.assert_frame_equal(decode(encoded), table)


def test_report_from_every_stage_output(scanned):
    demo, images, work = scanned
    written = write_fake_results(work, demo.truth)
    result = build_report(work, images, class_names=load_class_names(demo.class_names),
                          workers=1)
    report_dir = work / "report"
    assert result.path == report_dir / "index.html" and result.missing == []
    data = read_data_js(report_dir)
    manifest = pd.read_csv(work / "manifest.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(decode(data["manifest"]), manifest)

    flagged = manifest[(manifest["action"] != "keep") | (manifest["is_label_issue"] == "True")]
    assert sorted(data["flagged"]) == sorted(flagged.index.tolist())
    quality = manifest["label_quality"].astype(float).to_numpy()[data["flagged"]]
    assert (np.diff(quality) >= 0).all(), "gallery is not worst-first"
    assert result.n_flagged == len(flagged) > 0

    oof = written["oof"].set_index("image_id")
    worst = manifest["image_id"][data["flagged"][0]]
    probs = oof.loc[worst, [str(k) for k in range(10)]].astype(float)
    top3 = data["top3"][0]
    assert top3[0::2] == list(probs.sort_values(ascending=False).index[:3])
    assert top3[1] == pytest.approx(probs.max(), abs=1e-3)

    dups = written["duplicates"]
    assert len(data["groups"]) == dups["group_id"].nunique() == result.n_groups
    conflicts = [g["conflict"] for g in data["groups"]]
    assert conflicts == sorted(conflicts, reverse=True) and any(conflicts)
    member = data["groups"][0]["members"][0]
    assert member[4] and (report_dir / "assets" / "thumbs" / member[4]).exists()

    index = pd.read_csv(work / "index.csv", dtype=str, keep_default_na=False)
    bad = index[index["readable"] == "False"]
    assert data["unreadable"] == bad[["image_id", "path", "error"]].values.tolist()
    assert data["classes"][3] == ["3", "three"]
    assert data["images_base"] == "../../train_images/"

    for name in ("noise_matrix.png", "label_quality.png"):
        with Image.open(report_dir / "assets" / "figures" / name) as fig:
            assert fig.format == "PNG" and fig.width > 300
    thumbs = list((report_dir / "assets" / "thumbs").glob("*.jpg"))
    assert len(thumbs) == result.thumbnails.made
    with Image.open(thumbs[0]) as t:
        assert t.format == "JPEG" and max(t.size) <= 160

    html = (report_dir / "index.html").read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "3 · three" in html and "Estimated noise rate per class" in html
    for path in [report_dir / "index.html", *(report_dir / "assets").glob("*.*")]:
        assert not re.search(r"(https?:)?//[a-z0-9]", path.read_text()), path


def test_report_says_what_is_missing_and_how_to_get_it(scanned):
    demo, images, work = scanned
    write_fake_results(work, demo.truth, stages=("duplicates",))
    result = build_report(work, images, workers=1)
    assert [m["file"] for m in result.missing] == ["manifest.csv", "oof.csv", "summary.json"]
    html = result.path.read_text()
    assert "<code>manifest.csv</code> is missing: no label issues, review gallery or CSV " \
           "export. Run <code>labelclean noise --oof oof.csv</code>" in html
    assert "Run <code>labelclean oof</code>" in html
    assert re.search(r'<button id="export"[^>]* disabled', html)
    data = read_data_js(work / "report")
    assert data["manifest"] is None and data["flagged"] == [] and data["top3"] is None
    assert result.n_groups > 0 and len(data["groups"]) == result.n_groups


def test_markup_in_class_names_and_reasons_is_escaped(scanned):
    demo, images, work = scanned
    write_fake_results(work, demo.truth)
    summary = json.loads((work / "summary.json").read_text())
    summary["counts"]["reason"]["<b>bold</b>"] = 1
    (work / "summary.json").write_text(json.dumps(summary))
    names = {"3": "<script>alert(1)</script>", "4": "\"quoted' & ünï"}
    build_report(work, images, class_names=names, workers=1)
    html = (work / "report" / "index.html").read_text()
    assert "<script>alert" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;bold" in html
    assert "&#34;quoted&#39; &amp; ünï" in html
    data_js = (work / "report" / "assets" / "data.js").read_text()
    assert "<" not in data_js and "\\u003cscript\\u003e" in data_js


def test_thumbnails_are_reused_while_up_to_date(scanned):
    demo, images, work = scanned
    write_fake_results(work, demo.truth)
    first = build_report(work, images, workers=2).thumbnails
    assert first.made > 60 and first.reused == 0
    second = build_report(work, images, workers=1).thumbnails
    assert (second.made, second.reused) == (0, first.made)
    data = read_data_js(work / "report")
    path = images / data["groups"][0]["members"][0][5]
    # The demo images keep the (older) mtimes of the session fixture they were copied
    # from, so "touch" the image to a time surely after the thumbnail was made.
    newer = time.time() + 10
    os.utime(path, (newer, newer))
    third = build_report(work, images, workers=1).thumbnails
    assert (third.made, third.reused) == (1, first.made - 1)
    resized = build_report(work, images, thumb_size=96, workers=1).thumbnails
    assert resized.made == first.made
    with Image.open(next((work / "report" / "assets" / "thumbs").glob("*.jpg"))) as t:
        assert max(t.size) <= 96


def test_malformed_manifest_is_a_user_error(scanned):
    demo, images, work = scanned
    written = write_fake_results(work, demo.truth, stages=("manifest",))
    written["manifest"].drop(columns=["reason"]).to_csv(work / "manifest.csv", index=False)
    with pytest.raises(ManifestError, match=r"manifest.csv has no column 'reason' \(expected "
                       r"image_id, path, .*\); run 'labelclean noise' again"):
        build_report(work, images)
    bad = written["manifest"].assign(action="delete")
    bad.to_csv(work / "manifest.csv", index=False)
    with pytest.raises(ManifestError, match="unknown action 'delete' \\(expected one of keep, "
                                            "relabel, drop, review\\)"):
        build_report(work, images)


def test_cli_report(cli, scanned, tmp_path):
    demo, images, work = scanned
    write_fake_results(work, demo.truth, stages=("manifest", "duplicates"))
    result = cli("report", "--images", images, "--workdir", work, "--class-names",
                 demo.class_names, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert f"Wrote {work / 'report' / 'index.html'}" in result.output
    assert "missing oof.csv: no top-3 predicted probabilities; run 'labelclean oof'" \
        in result.output
    assert "Open it in a browser: file://" in result.output
    data = read_data_js(work / "report")
    assert data["classes"][0] == ["0", "zero"] and data["top3"] is None
    # without --images the report finds the images through the scan's record
    result = cli("report", "--workdir", work, "--workers", "1", "--out", tmp_path / "r2")
    assert result.exit_code == 0, result.output
    assert read_data_js(tmp_path / "r2")["images_base"] == "../train_images/"


def test_cli_report_errors(cli, tmp_path):
    result = cli("report", "--workdir", tmp_path / "empty")
    assert result.exit_code == 1
    assert result.stderr == ("Error: no dataset: run 'labelclean init --images DIR' or pass "
                             "--images\n")
    (tmp_path / "imgs").mkdir()
    result = cli("report", "--images", "imgs", "--workdir", tmp_path / "empty")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {tmp_path / 'empty' / 'index.csv'} does not exist; "
                             "run 'labelclean scan' first\n")
    (tmp_path / "names.json").write_text("[1, 2]")
    result = cli("report", "--images", "imgs", "--workdir", tmp_path / "empty", "--class-names",
                 "names.json")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: class names file names.json must hold a JSON object")


def test_top3_come_from_the_oof_file_noise_was_given(scanned, tmp_path):
    """A user's own OOF (prob_<c> columns, outside the work directory) reaches the gallery."""
    from labelclean.noise.stage import run_noise

    from .noisefiles import demo_oof

    demo, images, work = scanned
    oof = demo_oof(demo).drop(columns=["label", "fold"])
    oof.columns = ["image_id", *[f"prob_{c}" for c in range(10)]]
    (work / "oof.csv").write_text("image_id,label,fold,0\nstale,0,0,1.0\n")  # an older file
    mine = tmp_path / "my_oof.csv"
    oof.to_csv(mine, index=False)
    run_noise(work, load_dataset(images, demo.labels), [mine])
    result = build_report(work, images, workers=1)
    assert "oof.csv" not in [m["file"] for m in result.missing]
    data = read_data_js(work / "report")
    manifest = pd.read_csv(work / "manifest.csv", dtype=str, keep_default_na=False)
    worst = manifest["image_id"][data["flagged"][0]]
    probs = oof.set_index("image_id").loc[worst]
    top3 = data["top3"][0]
    assert top3[0::2] == [c.removeprefix("prob_") for c in
                          probs.sort_values(ascending=False).index[:3]]
    assert top3[1] == pytest.approx(probs.max(), abs=1e-3)


@pytest.mark.parametrize("form", ["prob_columns.csv", "rows.npy"])
def test_report_oof_option_reads_any_format_noise_reads(scanned, tmp_path, form):
    from labelclean.report.data import load_inputs

    from .noisefiles import demo_oof

    demo, images, work = scanned
    write_fake_results(work, demo.truth)
    oof = demo_oof(demo)
    index = pd.read_csv(work / "index.csv", dtype=str, keep_default_na=False)
    probs = oof.set_index("image_id")[[str(c) for c in range(10)]]
    path = tmp_path / form
    if form.endswith(".npy"):  # one row per labeled image in labels-file order
        labeled = index.loc[index["label"] != "", "image_id"]
        np.save(path, probs.reindex(labeled).to_numpy())  # unreadable rows: empty (NaN)
    else:
        probs.add_prefix("prob_").reset_index().to_csv(path, index=False)
    inputs = load_inputs(work, oof=path)
    got = inputs.oof.set_index("image_id")
    some = probs.index[:5]
    np.testing.assert_allclose(got.loc[some, [str(c) for c in range(10)]].to_numpy(float),
                               probs.loc[some].to_numpy(), atol=1e-9)
