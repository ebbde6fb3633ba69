"""Re-make docs/faces_tab.png (the README's screenshot) with the browser tests' harness.

    pip install -r requirements-dev.txt && python docs/screenshot.py      # needs Debian's chromium (/usr/bin/chromium)
    python docs/screenshot.py digits_gan_train   # docs/digits_gan_train.png: the Digits tab's classifier section

The same harness as tests/test_browser.py (tests/conftest.py): `python app.py` in a process of its own
on a free loopback port with its embedded weights (AppProcess), Debian's Chromium driven by Playwright
with the same flags and viewport. The screenshot is taken once the Faces tab's first-visit gallery
(16 faces, seeds 0-15) is decoded by the browser. Tooling for the README, not a test.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import CHROMIUM, VIEWPORT, AppProcess, free_port, launch_chromium  # noqa: E402

FACES_DECODED = """() => { const faces = [...document.querySelectorAll('#faces-gallery img')];
    return faces.length === 16 && faces.every(i => i.complete && i.naturalWidth > 0); }"""


def main(out: Path = ROOT / "docs" / "faces_tab.png") -> Path:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    app = AppProcess(free_port(), Path(tempfile.mkdtemp(prefix="screenshot-")) / "app.log")
    try:
        app.wait_ready()
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(app.url + "/")
            page.wait_for_function(FACES_DECODED, timeout=60_000)
            page.get_by_text("Weights:").filter(visible=True).first.wait_for(timeout=60_000)  # every first-visit event has answered
            page.evaluate("() => document.fonts.ready")
            page.screenshot(path=str(out))
            browser.close()
    finally:
        app.stop()
    print(f"wrote {out}")
    return out


def digits_gan_train(out: Path = ROOT / "docs" / "digits_gan_train.png") -> Path:
    """The Digits tab's 'Do GAN digits train a classifier?' section after one run at its default settings (10 real
    and 100 cGAN digits per class, 200 steps, seed 0) on ../shared/data/mnist: numbers and curves, no MNIST image."""
    from playwright.sync_api import sync_playwright

    app = AppProcess(free_port(), Path(tempfile.mkdtemp(prefix="screenshot-")) / "app.log")
    try:
        app.wait_ready()
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(app.url + "/")
            page.get_by_role("tab", name="Label-conditioned digits (cGAN)", exact=True).click()
            page.get_by_role("button", name="Do GAN digits train a classifier?").click()
            page.get_by_role("button", name="Train the three classifiers").click()
            page.get_by_text("Training took").filter(visible=True).first.wait_for(timeout=300_000)
            page.wait_for_timeout(1000)  # the plot's last frame
            page.locator("#digits-gan-train").screenshot(path=str(out))
            browser.close()
    finally:
        app.stop()
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    digits_gan_train() if sys.argv[1:] == ["digits_gan_train"] else main()
