"""Requests per second of each tab's endpoint through gradio_client, 1 and 8 concurrent clients.

    python benchmarks/bench_app.py [--seconds 20]

Starts `python app.py` on a free loopback port, warms each endpoint, then for each
endpoint and client count sends requests for a fixed time (each client waits for its
answer before the next request) and reports requests/s and latency percentiles. A third row
per endpoint has 1 client that does not fetch the answer's image files (gradio_client
``download_files=False``): the server's share of a request. gradio_client fetches a
gallery's files one after another; a browser fetches them in parallel.
Bounded in time and count, loopback only.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from bench_cold_start import start_app
from load_test import endpoint_calls
from timing import report

ROOT = Path(__file__).resolve().parents[1]
MAIN_ENDPOINTS = ["/faces", "/digits", "/birds", "/maps"]  # each tab's main action, with its default inputs


def hammer(url: str, api_name: str, make_args, clients: int, seconds: float, max_requests: int = 2000,
           download: bool = True) -> dict:
    from gradio_client import Client

    latencies, errors, lock = [], [], threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker(offset: int):
        client = Client(url, verbose=False, download_files=download)
        i = 0
        while time.perf_counter() < stop_at and len(latencies) < max_requests:
            t0 = time.perf_counter()
            try:
                client.predict(*make_args(offset * 1000 + i), api_name=api_name)
                with lock:
                    latencies.append((time.perf_counter() - t0) * 1000)
            except Exception as err:  # counted, not hidden
                with lock:
                    errors.append(repr(err))
            i += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    pct = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None
    return {"endpoint": api_name, "clients": clients, "files fetched": download, "requests": len(latencies), "errors": len(errors),
            "req/s": round(len(latencies) / elapsed, 2), "p50 (ms)": pct(0.5), "p95 (ms)": pct(0.95),
            "max (ms)": round(latencies[-1], 1) if latencies else None,
            "first error": errors[0][:120] if errors else ""}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    proc, url, client = start_app()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            calls = endpoint_calls(Path(tmp))
            for name in MAIN_ENDPOINTS:
                client.predict(*calls[name](0), api_name=name)  # warm-up: loads the model
            rows = [hammer(url, name, calls[name], clients, args.seconds, download=download)
                    for name in MAIN_ENDPOINTS for clients, download in ((1, True), (8, True), (1, False))]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    report("app", rows)


if __name__ == "__main__":
    main()
