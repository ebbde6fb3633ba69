"""Cold start: seconds from `python app.py` to the first served image (through gradio_client).

    python benchmarks/bench_cold_start.py [--runs 3] [--name cold_start]
    python benchmarks/bench_cold_start.py --imports [--runs 3]     # what the start-up's imports cost

Starts the app as a fresh process on a free loopback port, polls until it answers, asks
/faces for 16 faces, and stops it. Reports each phase and the total, in wall-clock seconds and
in CPU seconds of the server process by then (user + system, from /proc): on a machine that
other work keeps busy the wall clock stretches, the CPU time less (start-up is mostly one
thread importing and building, so on an idle machine the two are close).

``--imports`` (results/cold_start_imports.json): wall and CPU seconds of a fresh ``python -c``
that imports gradio; gradio and torch; the app (what runs before the server listens, with
building it); and the app and diffusers' pipeline module (what the first faces need on top).
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15 of stat


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
        listening, listening_cpu = time.perf_counter() - t0, cpu_seconds(proc.pid)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        gallery, _ = client.predict(0, 16, 0.8, api_name="/faces")
        assert len(gallery) == 16
        first_image, first_image_cpu = time.perf_counter() - t0, cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"listening (s)": round(listening, 2), "first 16 faces served (s)": round(first_image, 2),
            "server CPU by listening (s)": round(listening_cpu, 2),
            "server CPU by first faces (s)": round(first_image_cpu, 2),
            "load average (1 min)": round(os.getloadavg()[0], 1)}


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
    parser.add_argument("--name", default="cold_start", help="results/<name>.json")
    parser.add_argument("--imports", action="store_true", help="the start-up's imports instead (cold_start_imports)")
    args = parser.parse_args()
    if args.imports:
        return report("cold_start_imports", import_costs(args.runs))
    rows = [{"run": i + 1, **one_run()} for i in range(args.runs)]
    report(args.name, rows)


if __name__ == "__main__":
    main()
