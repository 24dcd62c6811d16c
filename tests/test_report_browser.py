"""The report in a real headless Chromium: review, export, hostile names, 50,000 findings."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from PIL import Image

from labelclean.io.dataset import load_class_names, load_dataset
from labelclean.report.build import build_report
from labelclean.scan.stage import scan_dataset

from .browser import chromium, open_report, requested_urls, settled, wait_for, wait_for_file
from .reportfiles import write_fake_results, write_synthetic_findings

pytestmark = pytest.mark.browser

COUNT_ALERTS = ("window.__alerts = 0; for (const f of ['alert', 'confirm', 'prompt']) "
                "{ window[f] = () => { window.__alerts += 1; }; }")


def by_css(driver, selector: str) -> list:
    return driver.execute_script("return Array.from(document.querySelectorAll(arguments[0]))",
                                 selector)


def select(driver, element, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(element).select_by_value(value)


def card_ids(driver) -> list[str]:
    return driver.execute_script("return Array.from(document.querySelectorAll("
                                 "'#cards .card .card-id'), e => e.textContent)")


def test_review_filter_edit_and_export(small_demo, tmp_path):
    images = tmp_path / "train_images"
    shutil.copytree(small_demo.images, images)
    work = tmp_path / "work"
    scan_dataset(load_dataset(images, small_demo.labels), work, workers=1)
    write_fake_results(work, small_demo.truth)
    result = build_report(work, images, class_names=load_class_names(small_demo.class_names),
                          workers=1)
    manifest = pd.read_csv(work / "manifest.csv", dtype=str, keep_default_na=False)
    quality = manifest["label_quality"].astype(float)
    flagged = manifest[(manifest["action"] != "keep") | (manifest["is_label_issue"] == "True")]
    worst_first = flagged.assign(q=quality).sort_values("q", kind="stable")["image_id"].tolist()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chromium(downloads) as driver:
        open_report(driver, result.path)
        # the gallery shows the flagged images, worst first, one page of them
        assert card_ids(driver) == worst_first[:48]
        assert driver.find_element("id", "gallery-total").text == f"({len(flagged)})"
        wait_for(driver, "return Array.from(document.querySelectorAll('#cards .thumb img'))"
                         ".slice(0, 6).every(i => i.complete && i.naturalWidth > 0)")

        # filter by decision, then by class and reason, then search by id
        select(driver, driver.find_element("id", "f-action"), "relabel")
        relabel = flagged[flagged["action"] == "relabel"]
        assert sorted(card_ids(driver)) == sorted(relabel["image_id"])
        assert all("act-relabel" in c.get_attribute("class") for c in by_css(driver, ".card"))
        select(driver, driver.find_element("id", "f-action"), "")
        select(driver, driver.find_element("id", "f-class"), "3")
        select(driver, driver.find_element("id", "f-reason"), "label_issue")
        expected = flagged[(flagged["given_label"] == "3")
                           & flagged["reason"].str.contains("label_issue")]
        assert sorted(card_ids(driver)) == sorted(expected["image_id"]) != []
        select(driver, driver.find_element("id", "f-class"), "")
        select(driver, driver.find_element("id", "f-reason"), "")
        target = worst_first[5]
        driver.find_element("id", "f-search").send_keys(target[:-4])
        wait_for(driver, f"return document.querySelectorAll('#cards .card').length === "
                         f"{sum(target[:-4] in i for i in flagged['image_id'])}")
        assert target in card_ids(driver)

        # change one decision and one label
        card = driver.find_element("css selector", "#cards .card")
        select(driver, card.find_element("css selector", ".sel-action"), "drop")
        assert "edited" in card.get_attribute("class")
        driver.find_element("id", "f-search").clear()
        select(driver, driver.find_element("id", "f-sort"), "best")
        relabelled = card_ids(driver)[0]
        select(driver, driver.find_element("css selector", "#cards .card .sel-label"), "7")
        assert driver.find_element("id", "edit-count").text == "2 edits"

        # click enlarges the original image; Escape closes it
        driver.find_element("css selector", "#cards .card .thumb").click()
        wait_for(driver, "const i = document.getElementById('lb-img'); return "
                         "!document.getElementById('lightbox').hidden && i.naturalWidth > 0")
        assert driver.find_element("id", "lb-title").text == relabelled
        driver.find_element("css selector", "body").send_keys("\ue00c")
        wait_for(driver, "return document.getElementById('lightbox').hidden")

        # edits survive a reload; export downloads the whole manifest with them applied
        driver.refresh()
        wait_for(driver, "return document.body.dataset.ready === '1'")
        assert driver.find_element("id", "edit-count").text == "2 edits"
        driver.find_element("id", "export").click()
        exported_path = wait_for_file(downloads, "manifest-reviewed*.csv")
        urls = requested_urls(driver)
        assert any(u.endswith("/assets/data.js") for u in urls)
        assert [u for u in urls if u.split(":")[0] in ("http", "https", "ws", "wss")] == []
    exported = pd.read_csv(exported_path, dtype=str, keep_default_na=False)
    expected = manifest.copy()
    expected.loc[expected["image_id"] == target, "action"] = "drop"
    given = expected.loc[expected["image_id"] == relabelled, "given_label"].item()
    expected.loc[expected["image_id"] == relabelled, ["action", "suggested_label"]] = [
        "relabel" if given != "7" else "keep", "7"]
    pd.testing.assert_frame_equal(exported, expected)
    assert exported_path.read_text().splitlines()[0] == ",".join(manifest.columns)

    # the exported file is what `labelclean apply` consumes
    from labelclean.cli.main import app
    from typer.testing import CliRunner

    applied = CliRunner().invoke(app, [
        "apply", "--manifest", str(exported_path), "--images", str(images),
        "--labels", str(small_demo.labels), "--workdir", str(work)])
    assert applied.exit_code == 0, applied.output
    clean = pd.read_csv(work / "clean.csv", dtype=str, keep_default_na=False)
    assert list(clean.columns) == ["image_id", "label"]
    assert target not in set(clean["image_id"])
    if given != "7":
        assert clean.set_index("image_id").loc[relabelled, "label"] == "7"
    dropped = set(exported.loc[exported["action"] == "drop", "image_id"])
    assert dropped.isdisjoint(clean["image_id"])


def test_hostile_file_names_and_labels_render_as_text(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    evil = "<img src=x onerror=alert(1)>.png"
    broken = "\"><svg onload=alert(2)>.jpg"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(images / evil)
    Image.new("RGB", (40, 30), (30, 30, 200)).save(images / "plain.jpg")
    (images / broken).write_bytes(b"")
    labels = pd.DataFrame({"image_id": [evil, "plain.jpg", broken],
                           "label": ["<script>alert(3)</script>", "a\"b'c \u2028 ü", "x"]})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    work = tmp_path / "work"
    index = scan_dataset(load_dataset(images, tmp_path / "labels.csv"), work, workers=1).index
    pd.DataFrame({
        "image_id": index["image_id"], "path": index["path"], "given_label": index["label"],
        "suggested_label": "a\"b'c \u2028 ü", "action": "review",
        "reason": "<i>odd</i>;</script>", "label_quality": [0.1, 0.2, 0.3],
        "is_label_issue": True, "duplicate_group": ""}).to_csv(work / "manifest.csv",
                                                               index=False)
    pd.DataFrame({"group_id": ["<g>", "<g>"], "image_id": [evil, "plain.jpg"],
                  "label": ["<script>alert(3)</script>", "x"], "keep": [True, False],
                  "method": "<b>m</b>", "score": 1.0, "label_conflict": True}
                 ).to_csv(work / "duplicates.csv", index=False)
    result = build_report(work, images, class_names={"x": "<img src=y onerror=alert(4)>"},
                          workers=1)
    with chromium() as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_ALERTS})
        open_report(driver, result.path)
        assert sorted(card_ids(driver)) == sorted(index["image_id"])
        text = driver.find_element("id", "cards").text
        assert "<script>alert(3)</script>" in text and "<i>odd</i>" in text
        assert driver.find_element("id", "groups").text.count(evil) == 1
        assert broken in driver.find_element("id", "bad-rows").text
        options = driver.execute_script("return Array.from(document.querySelectorAll("
                                        "'#f-class option'), o => o.textContent)")
        assert "x \u00b7 <img src=y onerror=alert(4)> (1)" in options
        injected = driver.execute_script(
            "return document.querySelectorAll('img[src=x], img[src=y], svg, i, g,"
            " script:not([src])').length + Array.from(document.querySelectorAll('b'))"
            ".filter(e => e.textContent === 'm').length")
        assert injected == 0
        assert "<b>m</b>" in driver.find_element("id", "groups").text
        settled(driver)  # every image loaded or failed: an injected handler would have run
        assert driver.execute_script("return window.__alerts") == 0


def test_fifty_thousand_flagged_images_show_one_page(tmp_path):
    """The page does not grow with N: it opens on the first page of the gallery and holds
    one page of thumbnails (48 images, and 12 of the 1,000 duplicate groups), before and
    after filtering all 50,000."""
    n, page = 50_000, 48
    write_synthetic_findings(tmp_path / "work", tmp_path / "images", n)
    drops = int((pd.read_csv(tmp_path / "work" / "manifest.csv")["action"] == "drop").sum())
    result = build_report(tmp_path / "work", tmp_path / "images", workers=1)
    assert result.n_flagged == n and result.thumbnails.made == 1
    assert result.path.stat().st_size < 30_000  # the page itself does not grow with N
    thumbs = ("return ['#cards', '#groups', 'body'].map(s => "
              "document.querySelectorAll(s + ' .thumb img').length)")
    with chromium() as driver:
        open_report(driver, result.path)
        assert driver.find_element("id", "gallery-total").text == "(50,000)"
        assert driver.find_element("id", "gallery-pager").text.startswith(
            f"Showing 1\u2013{page} of 50,000")
        assert len(by_css(driver, "#cards .card")) == page
        assert driver.execute_script(thumbs) == [page, 2 * 12, page + 2 * 12]
        assert driver.execute_script("return document.getElementsByTagName('*').length") < 6000
        select(driver, driver.find_element("id", "f-action"), "drop")
        assert driver.find_element("id", "gallery-pager").text.startswith(
            f"Showing 1\u2013{page} of {drops:,}")
        assert len(by_css(driver, "#cards .card")) == page
        assert driver.execute_script(thumbs) == [page, 2 * 12, page + 2 * 12]
        assert all("act-drop" in c.get_attribute("class") for c in by_css(driver, ".card"))
