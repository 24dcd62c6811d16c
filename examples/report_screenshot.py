"""Take a screenshot of a report with headless Chromium.

    python examples/report_screenshot.py labelclean-demo/.labelclean/report/index.html \\
        reports/report-screenshot.png [--width 1400] [--height 1700] [--at gallery]

``--at`` scrolls to a section first (summary, gallery, duplicates, unreadable).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import chromium, open_report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the report's index.html")
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1700)
    parser.add_argument("--at", default=None, help="section id to scroll to")
    args = parser.parse_args()
    with chromium(size=(args.width, args.height)) as driver:
        open_report(driver, args.report)
        if args.at:
            driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()",
                                  args.at)
        driver.execute_script("return new Promise(r => setTimeout(r, 500))")
        driver.save_screenshot(str(args.png))
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
