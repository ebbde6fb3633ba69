"""The Playground on this CPU: frame render time, training speed, and whether it slows other tabs.

    OMP_NUM_THREADS=1 python benchmarks/bench_playground.py [--faces-requests 10]

Rows:
- one frame (decision surface on a 64 x 64 grid, points, 48 gradient arrows, loss curves,
  400 x 500 pixels) for each loss, after 300 training steps; and the PNG encoding gradio does;
- training steps per second (width 64, batch 256, one thread);
- the frames a second one playground session gets, alone;
- a /faces request (16 faces) served by an app holding the Faces and Playground tabs, timed
  through gradio_client with no playground session, then while 4 sessions train at once
  (4 streaming /playground calls). Writes results/playground.json.
Other processes compete for the CPU: the table says whether a training run was going on beside.
"""

from __future__ import annotations

import argparse
import io
import socket
import statistics
import time

import torch

from timing import report, time_calls
from bench_digits import training_running
from gan_models.playground.toy_gan import LOSSES, ToyGAN
from gan_models.playground.render import render


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def faces_latency(client, n: int) -> dict:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        gallery, _ = client.predict(i, 16, 0.8, api_name="/faces")
        times.append((time.perf_counter() - t0) * 1000)
        assert len(gallery) == 16
    times.sort()
    return {"median_ms": round(statistics.median(times), 1), "p90_ms": round(times[int(0.9 * (n - 1))], 1), "runs": n}


def multi_user(n_requests: int, sessions: int = 4) -> list[dict]:
    import gradio as gr
    from gradio_client import Client

    import app
    from tabs.common import Models
    from tabs.faces import faces_tab
    from tabs.playground import playground_tab

    models = Models()
    with gr.Blocks() as demo:
        with gr.Tab("Faces"):
            faces_tab(models)
        with gr.Tab("Playground"):
            playground_tab(models)
    demo.queue(max_size=app.QUEUE_SIZE, default_concurrency_limit=2)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    rows = []
    try:
        url = f"http://127.0.0.1:{port}/"
        client = Client(url, verbose=False, download_files=False)
        client.predict(0, 16, 0.8, api_name="/faces")  # loads the model
        alone = faces_latency(client, n_requests)
        rows.append({"case": "/faces (16 faces), no playground session", **alone})
        solo = Client(url, verbose=False, download_files=False).submit("ring", "ns", 1e-3, 1e-3, 1, 64, 0,
                                                                        api_name="/playground")
        time.sleep(5)
        rows.append({"case": "1 playground session alone", "playground frames/s per session":
                     round(len(solo.outputs()) / 5, 1)})
        solo.cancel()
        time.sleep(1)
        players = [Client(url, verbose=False, download_files=False) for _ in range(sessions)]
        t0 = time.perf_counter()
        jobs = [p.submit("ring", "ns", 1e-3, 1e-3, 1, 64, 0, api_name="/playground") for p in players]
        time.sleep(3)  # let them all start
        busy = faces_latency(client, n_requests)
        frames, elapsed = [len(job.outputs()) for job in jobs], time.perf_counter() - t0
        for job in jobs:
            job.cancel()
        rows.append({"case": f"/faces (16 faces), {sessions} playground sessions training", **busy,
                     "slow-down": round(busy["median_ms"] / alone["median_ms"], 2),
                     "playground frames/s per session": round(statistics.mean(frames) / elapsed, 1)})
    finally:
        demo.close()
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces-requests", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    background = training_running()
    rows = []
    for loss in LOSSES:
        gan = ToyGAN("ring", loss, width=64, seed=0)
        gan.step(300)
        frame = time_calls(lambda: render(gan), warmup=3, repeat=30)
        rows.append({"case": f"render one frame ({loss})", **frame})
    image = render(gan)
    png = time_calls(lambda: image.save(io.BytesIO(), format="png"), warmup=3, repeat=30)
    rows.append({"case": "PNG-encode one frame (what gradio sends)", **png})
    gan = ToyGAN("ring", "ns", width=64, seed=0)
    step = time_calls(lambda: gan.step(10), warmup=2, repeat=20)
    rows.append({"case": "10 training steps (ns, width 64, batch 256)", **step,
                 "steps/s": round(10_000 / step["median_ms"])})
    for row in rows:
        row["torch threads"] = 1
    rows += multi_user(args.faces_requests)
    for row in rows:
        row["training running beside"] = background
    report("playground", rows)


if __name__ == "__main__":
    main()
