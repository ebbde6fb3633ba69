"""Re-make docs/faces_tab.png: start the app, open it in headless Chromium, screenshot the Faces tab.

    pip install playwright && python docs/screenshot.py          # uses the system Chromium (/usr/bin/chromium)

Optional tooling for the README, not a test dependency.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_cold_start import free_port  # noqa: E402


def main(chromium: str = "/usr/bin/chromium"):
    from playwright.sync_api import sync_playwright

    port = free_port()
    app = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(10)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("text=seed 15", timeout=60_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ROOT / "docs" / "faces_tab.png"))
            browser.close()
    finally:
        app.terminate()
        app.wait(timeout=30)


if __name__ == "__main__":
    main()
