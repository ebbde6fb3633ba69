"""Cold start: seconds from `python app.py` to the first served image (through gradio_client).

    python benchmarks/bench_cold_start.py [--runs 3]

Starts the app as a fresh process on a free loopback port, polls until it answers, asks
/faces for 16 faces, and stops it. Reports each phase and the total.
"""

from __future__ import annotations

import argparse
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


def one_run() -> dict:
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise RuntimeError("app did not start")
                time.sleep(0.05)
        listening = time.perf_counter() - t0
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        gallery, _ = client.predict(0, 16, 0.8, api_name="/faces")
        assert len(gallery) == 16
        first_image = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"listening (s)": round(listening, 2), "first 16 faces served (s)": round(first_image, 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = [{"run": i + 1, **one_run()} for i in range(args.runs)]
    report("cold_start", rows)


if __name__ == "__main__":
    main()
