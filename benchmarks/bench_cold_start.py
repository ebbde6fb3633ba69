"""Cold start: seconds from `python app.py` to listening, to the first faces on the page, to the first /faces answer.

    python benchmarks/bench_cold_start.py [--runs 3] [--name cold_start]
    python benchmarks/bench_cold_start.py --imports [--runs 3]     # what the start-up's imports cost
    # the same in a virtual environment with requirements.txt only (+ playwright, for the page column), as a Space
    # has it: this machine's Python also has IPython, which gradio imports if it is there (0.5 s)
    python -m venv clean && clean/bin/pip install -r requirements.txt playwright==1.64.1
    clean/bin/python benchmarks/bench_cold_start.py --name cold_start_clean_venv

Each run is done twice, in turns: with the first gallery from its cache (tabs/first_gallery/, drawn from the embedded
weights: what a fresh clone does) and without it (the folder moved aside for that run and put back after, as when the
weights are new and the cache not yet drawn: a child process draws the gallery). ``--modes cache`` does one.

Starts the app as a fresh process on a free loopback port and times, from the start:
- listening: the port accepts a connection;
- the first 16 faces on the page: a browser (Debian's Chromium, started beforehand) opens the page as soon as the
  server listens, and the Faces gallery shows its 16 first-visit faces, every one decoded (what a visitor sees);
- the first /faces answer: then gradio_client asks /faces for 16 faces of seed 1 (not the first visit's), which
  the server draws itself, so its model has to be loaded by then.
Then it stops the app. Beside the wall clock: CPU seconds of the server process by then (user + system, from
/proc), and of the child that draws the first gallery (tabs/first_faces.py; 0 if it was not started). On a machine
that other work keeps busy the wall clock stretches, the CPU time less. Without Chromium or playwright the page
column is left out.

``--imports`` (results/cold_start_imports.json): wall and CPU seconds of a fresh ``python -c``
that imports gradio; gradio and torch; the app (what runs before the server listens, with
building it); and the app and diffusers' pipeline module (what the first faces need on top).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from timing import report

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(timeout_s: float = 60):
    """``python app.py`` on a free loopback port -> (process, url, a connected gradio_client.Client)."""
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    stop_at = time.perf_counter() + timeout_s
    while time.perf_counter() < stop_at:
        try:
            return proc, url, Client(url, verbose=False)
        except Exception:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"the app did not start within {timeout_s:.0f} s")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU time of a process so far, or (``children``) of its children that have ended and been
    waited for (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    first = 13 if children else 11  # cutime, cstime or utime, stime: fields 16, 17 or 14, 15 of stat
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def first_faces_on_page(browser, url: str, timeout_s: float = 120) -> None:
    """Open ``url`` and return once the Faces gallery shows 16 decoded images, the first captioned "seed 0"."""
    page = browser.new_page()
    try:
        page.goto(url, timeout=timeout_s * 1000)
        page.wait_for_function("""() => {
            const imgs = [...document.querySelectorAll('#faces-gallery img')];
            return imgs.length === 16 && imgs[0].alt === 'seed 0' && imgs.every(i => i.complete && i.naturalWidth > 0);
        }""", timeout=timeout_s * 1000, polling=50)
    finally:
        page.close()


@contextlib.contextmanager
def first_gallery(mode: str):
    """``mode`` "cache": as the checkout is; "child": tabs/first_gallery/ moved aside meanwhile, then put back."""
    from tabs.first_faces import CACHE

    if mode == "cache":
        if not CACHE.is_dir():
            raise SystemExit(f"no {CACHE}: python -m tabs.first_faces --write-cache")
        yield
        return
    aside = CACHE.with_name(CACHE.name + ".aside")
    CACHE.rename(aside)
    try:
        yield
    finally:
        aside.rename(CACHE)


def one_run(browser=None) -> dict:
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    row = {}
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise RuntimeError("app did not start")
                time.sleep(0.05)
        row["listening (s)"] = round(time.perf_counter() - t0, 2)
        row["server CPU by listening (s)"] = round(cpu_seconds(proc.pid), 2)
        if browser is not None:
            first_faces_on_page(browser, f"http://127.0.0.1:{port}/")
            row["first 16 faces on the page (s)"] = round(time.perf_counter() - t0, 2)
            row["server CPU by the page's faces (s)"] = round(cpu_seconds(proc.pid), 2)
            row["first-gallery child CPU (s)"] = round(cpu_seconds(proc.pid, children=True), 2)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        gallery, _ = client.predict(1, 16, 0.8, api_name="/faces")
        assert len(gallery) == 16
        row["first /faces answer, seed 1 (s)"] = round(time.perf_counter() - t0, 2)
        row["server CPU by /faces (s)"] = round(cpu_seconds(proc.pid), 2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {**row, "load average (1 min)": round(os.getloadavg()[0], 1)}


def launch_browser(stack):
    """Debian's Chromium through playwright, closed by ``stack``; None (with a note) if either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("no playwright: the page column is left out", file=sys.stderr)
        return None
    if not Path("/usr/bin/chromium").exists():
        print("no /usr/bin/chromium: the page column is left out", file=sys.stderr)
        return None
    playwright = stack.enter_context(sync_playwright())
    # not tests/conftest.py's launch_chromium: it imports pytest, which a clean requirements.txt install lacks
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
    stack.callback(browser.close)
    return browser


IMPORTS = {
    "import gradio": "import gradio",
    "import gradio, torch": "import gradio, torch",
    "import app; app.build_demo()": "import app; app.build_demo()",
    "... and diffusers' DiffusionPipeline": "import app; app.build_demo(); import diffusers.pipelines.pipeline_utils",
}


def import_costs(runs: int) -> list[dict]:
    """Wall and CPU seconds (user + system) of a fresh interpreter running each of IMPORTS; median of ``runs``."""
    import resource
    import statistics

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    rows = []
    for what, code in IMPORTS.items():
        walls, cpus = [], []
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        rows.append({"what": what, "wall (s)": round(statistics.median(walls), 2),
                     "CPU (s)": round(statistics.median(cpus), 2), "load average (1 min)": round(os.getloadavg()[0], 1)})
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--name", default=None, help="results/<name>.json (default: cold_start, or "
                        "cold_start_imports with --imports)")
    parser.add_argument("--imports", action="store_true", help="the start-up's imports instead (cold_start_imports)")
    parser.add_argument("--modes", nargs="+", default=["cache", "child"], choices=["cache", "child"],
                        help="where the first gallery comes from: its cache, or a child drawing it")
    args = parser.parse_args()
    if args.imports:
        return report(args.name or "cold_start_imports", import_costs(args.runs))
    rows = []
    with contextlib.ExitStack() as stack:
        browser = launch_browser(stack)
        for i in range(args.runs):
            for mode in args.modes:
                with first_gallery(mode):
                    rows.append({"run": i + 1, "first gallery": mode, **one_run(browser)})
    report(args.name or "cold_start", rows)


if __name__ == "__main__":
    main()
