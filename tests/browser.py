"""A headless Chromium for the report tests (and the screenshot script), offline.

Uses the system's chromium and chromedriver; the tests that need them are marked
``browser``. Every network-facing background feature is switched off.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def _first(candidates: tuple[str, ...], name: str) -> str:
    for path in candidates:
        if Path(path).exists():
            return path
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"{name} not found; install chromium and its driver "
                       "(Debian: apt-get install chromium chromium-driver)")


@contextmanager
def chromium(download_dir: Path | None = None, size: tuple[int, int] = (1400, 1000)
             ) -> Iterator[object]:
    """A selenium WebDriver for headless Chromium; downloads land in ``download_dir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="labelclean-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = _first(CHROMIUM_CANDIDATES, "chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-extensions",
                "--disable-default-apps", f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    if download_dir is not None:
        options.add_experimental_option("prefs", {
            "download.default_directory": str(download_dir),
            "download.prompt_for_download": False,
        })
    driver = webdriver.Chrome(service=Service(_first(DRIVER_CANDIDATES, "chromedriver")),
                              options=options)
    try:
        if download_dir is not None:
            driver.execute_cdp_cmd("Page.setDownloadBehavior",
                                   {"behavior": "allow", "downloadPath": str(download_dir)})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_report(driver, index_html: Path, timeout: float = 30.0) -> float:
    """Open the report from disk; returns seconds until its gallery was first painted."""
    start = time.perf_counter()
    driver.get(index_html.resolve().as_uri())
    wait_for(driver, "return document.body && document.body.dataset.ready === '1'", timeout)
    return time.perf_counter() - start


def requested_urls(driver) -> list[str]:
    """Every URL the browser requested since the last call (from its network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def wait_for(driver, script: str, timeout: float = 10.0):
    """Poll ``script`` in the page until it returns something truthy; return that."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
            lambda d: d.execute_script(script))
    except TimeoutException:
        raise TimeoutError(f"page never satisfied: {script}") from None


def wait_for_file(folder: Path, pattern: str, timeout: float = 15.0) -> Path:
    """The first finished download in ``folder`` matching ``pattern``."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def finished(folder: Path) -> Path | None:
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        return done[0] if done else None

    try:
        return WebDriverWait(folder, timeout, poll_frequency=0.1).until(finished)
    except TimeoutException:
        raise TimeoutError(f"no {pattern} appeared in {folder}") from None


def settled(driver, timeout: float = 10.0) -> None:
    """Wait until the page has nothing left to run: loaded, every image loaded or failed
    (so their ``onload``/``onerror`` handlers ran), and two frames plus a task drawn.
    Lazy images below the fold are made eager first: they would never load unscrolled."""
    driver.execute_script("document.querySelectorAll('img[loading=lazy]')"
                          ".forEach(i => { i.loading = 'eager'; });")
    try:
        wait_for(driver, "return document.readyState === 'complete' && "
                         "Array.from(document.images).every(i => i.complete)", timeout)
    except TimeoutError as exc:
        pending = driver.execute_script(
            "return [document.readyState].concat(Array.from(document.images)"
            ".filter(i => !i.complete).map(i => i.outerHTML.slice(0, 200)))")
        raise TimeoutError(f"{exc}; still pending: {pending}") from None
    driver.set_script_timeout(timeout)
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => "
        "requestAnimationFrame(() => setTimeout(done, 0)));")
