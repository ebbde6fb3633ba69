"""Load test: 16 concurrent gradio_client clients against every tab for a few minutes; or one client's flood.

    python benchmarks/load_test.py [--clients 16] [--seconds 120] [--max_requests 5000]
    python benchmarks/load_test.py --scenario flood [--flood 40] [--steps 400] [--seconds 60] [--name load_test_flood]

Starts `python app.py` on a free loopback port (loopback only; bounded in time and in
requests), warms every endpoint, then runs ``--clients`` clients at once. Client k sends
the endpoints in turn, starting at endpoint k, each with the inputs its tab sends by
default (a seed that changes per request), and waits for each answer before the next.
Reports per endpoint and overall: requests, errors, throughput, p50/p95/max latency, and
the server's resident memory (sampled every 0.2 s, and the kernel's high-water mark).
Errors must be 0 while the clients are fewer than the queue's limit (32).

``--scenario flood`` (results/load_test_flood.json): one client sends ``--flood`` /faces_project requests at
once, ``--steps`` steps each (the issue's flood: forty at 1,000 steps, which filled the queue for about 17
minutes); meanwhile a second client asks /faces for 16 faces once a second for ``--seconds`` and sends one
projection of its own (the default 200 steps). Before the flood, the second client alone asks /faces the same way
for ``--baseline_seconds``: what this machine gives without the flood. Reports what became of the flood
(accepted, refused and why), the second client's /faces latencies and errors with and without it, and how long
its own projection took.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_cold_start import start_app
from timing import report

ROOT = Path(__file__).resolve().parents[1]


def endpoint_calls(tmp: Path) -> dict:
    """api_name -> function(i) giving the i-th request's inputs (what each tab sends by default)."""
    from gradio_client import handle_file

    from gan_models.maps.palette import draw_map

    map_file = tmp / "drawn_map.png"
    draw_map(seed=7).save(map_file)  # made by the project's own code, never a dataset image
    return {
        "/faces": lambda i: (i, 16, 0.8),
        "/faces_interpolate": lambda i: (i, i + 1, 24, 0.8),
        "/digits": lambda i: ("all", i, 1, 1.0),
        "/digits_same_style": lambda i: (i, 4, 1.0),
        "/birds": lambda i: ("a small yellow bird with black wings and a short pointed beak", i, 8, 1.0),
        "/birds_vary_word": lambda i: ("a small red bird with a short beak", i, 3, 1.0),
        "/maps": lambda i: (handle_file(str(map_file)), ["a2b", "b2a"][i % 2], "tiles"),
    }


def memory_kb(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def pct(values: list[float], q: float):
    return round(values[min(len(values) - 1, int(q * len(values)))], 1) if values else None


def flood(args) -> None:
    """One client floods /faces_project; a second one asks for faces (see the module's docstring)."""
    from gradio_client import Client, handle_file
    from PIL import Image, ImageDraw

    server, url, warm = start_app()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            def editor(i: int) -> dict:
                """The crop editor's payload for photo i: drawn by code (what a projection costs does not depend on
                it), a different picture for each request. (Gradio 6.31's ImageEditor saves the picture it hands on
                under its content's hash, rewriting the file in place: two requests that send the same picture at
                the same moment can read each other's half-written file.)"""
                photo = Path(tmp) / f"drawn_face_{i}.png"
                picture = Image.new("RGB", (128, 128), (120, 120, 130))
                ImageDraw.Draw(picture).ellipse((32, 16, 96, 120), fill=(220, 180, i % 256))
                picture.save(photo)
                return {"background": handle_file(str(photo)), "layers": [], "composite": handle_file(str(photo))}

            warm.predict(0, 16, 0.8, api_name="/faces")          # the faces model, loaded
            warm.predict(editor(0), 0, 0, api_name="/faces_project")  # and the projection's feature network

            flooder, other = Client(url, verbose=False), Client(url, verbose=False)

            def ask_faces(seconds: float) -> tuple[list, list]:
                """/faces (16 faces) from the second client once a second -> (latencies in ms, errors)."""
                latencies, errors, t0 = [], [], time.perf_counter()
                while time.perf_counter() - t0 < seconds:
                    start = time.perf_counter()
                    try:
                        gallery, _ = other.predict(len(latencies) + len(errors), 16, 0.8, api_name="/faces")
                        assert len(gallery) == 16
                        latencies.append((time.perf_counter() - start) * 1000)
                    except Exception as err:  # counted and reported, never hidden
                        errors.append(f"{type(err).__name__}: {err}".replace("\n", " ")[:200])
                    time.sleep(max(0.0, 1.0 - (time.perf_counter() - start)))
                return sorted(latencies), errors

            alone = ask_faces(args.baseline_seconds)
            jobs = [flooder.submit(editor(i + 1), args.steps, i, api_name="/faces_project") for i in range(args.flood)]
            time.sleep(1)  # the flood is in (or refused) before the second client asks
            own_t0 = time.perf_counter()
            own = other.submit(editor(args.flood + 1), 200, 0, api_name="/faces_project")
            flooded = ask_faces(args.seconds)
            try:
                own.result(timeout=args.seconds + 300)
                own_result = f"answered after {time.perf_counter() - own_t0:.1f} s"
            except Exception as err:
                own_result = f"{type(err).__name__}: {err}"[:200]
            outcomes = {}
            for job in jobs:
                if not job.done():
                    kind = "accepted (still waiting or running at the end)"
                elif job.exception() is None:
                    kind = "accepted (answered)"
                else:
                    kind = f"refused: {type(job.exception()).__name__}: {job.exception()}".replace("\n", " ")[:220]
                outcomes[kind] = outcomes.get(kind, 0) + 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    def faces_row(what: str, latencies: list, errors: list) -> dict:
        return {"what": what, "result": f"{len(latencies)} answered, {len(errors)} errors; p50 {pct(latencies, 0.5)} "
                                        f"ms, p95 {pct(latencies, 0.95)} ms, max {pct(latencies, 1.0)} ms"
                                        + (f"; first error: {errors[0]}" if errors else "")}

    rows = [faces_row(f"second client alone: /faces (16 faces) once a second for {args.baseline_seconds:.0f} s",
                      *alone),
            {"what": f"flood: {args.flood} x /faces_project at {args.steps} steps from one client",
             "result": "; ".join(f"{n} {kind}" for kind, n in outcomes.items())},
            faces_row(f"second client during the flood: /faces once a second for {args.seconds:.0f} s", *flooded),
            {"what": "second client: its own /faces_project (200 steps), sent 1 s after the flood",
             "result": own_result},
            {"what": "load average (1 min) at the end", "result": f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"}]
    report(args.name, rows)
    if flooded[1]:
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=["mixed", "flood"], default="mixed")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--max_requests", type=int, default=5000, help="stop after this many requests in all")
    parser.add_argument("--flood", type=int, default=40, help="flood: projections sent at once by one client")
    parser.add_argument("--steps", type=int, default=400, help="flood: steps of each (the app takes 0-400)")
    parser.add_argument("--baseline_seconds", type=float, default=20, help="flood: /faces alone, before it")
    parser.add_argument("--name", default="load_test_flood", help="flood: results/<name>.json")
    args = parser.parse_args()
    if args.scenario == "flood":
        return flood(args)
    if not 1 <= args.clients <= 64:
        raise SystemExit("--clients must be 1-64")

    from gradio_client import Client

    server, url, warm = start_app()
    samples, done = [], threading.Event()

    def sample_memory():
        while not done.is_set() and server.poll() is None:
            try:
                samples.append(memory_kb(server.pid)["VmRSS"])
            except (OSError, KeyError):
                pass
            time.sleep(0.2)

    try:
        with tempfile.TemporaryDirectory() as tmp:
            calls = endpoint_calls(Path(tmp))
            for name, make in calls.items():
                warm.predict(*make(0), api_name=name)  # loads every model once
            idle_kb = memory_kb(server.pid)["VmRSS"]
            threading.Thread(target=sample_memory, daemon=True).start()

            names = list(calls)
            results = {name: {"latencies": [], "errors": []} for name in names}
            lock, count = threading.Lock(), [0]
            stop_at = time.perf_counter() + args.seconds

            def client_loop(k: int):
                client = Client(url, verbose=False)
                i = 0
                while time.perf_counter() < stop_at:
                    with lock:
                        if count[0] >= args.max_requests:
                            return
                        count[0] += 1
                    name = names[(k + i) % len(names)]
                    t0 = time.perf_counter()
                    try:
                        client.predict(*calls[name](1000 * k + i), api_name=name)
                        with lock:
                            results[name]["latencies"].append((time.perf_counter() - t0) * 1000)
                    except Exception as err:  # counted and reported, never hidden
                        with lock:
                            results[name]["errors"].append(repr(err)[:160])
                    i += 1

            threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(args.clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
            peak = memory_kb(server.pid)
    finally:
        done.set()
        server.terminate()
        server.wait(timeout=30)

    rows, every = [], []
    for name in names:
        lat = sorted(results[name]["latencies"])
        every += lat
        errors = results[name]["errors"]
        rows.append({"endpoint": name, "requests": len(lat), "errors": len(errors), "req/s": round(len(lat) / elapsed, 2),
                     "p50 (ms)": pct(lat, 0.5), "p95 (ms)": pct(lat, 0.95), "max (ms)": pct(lat, 1.0),
                     "first error": errors[0] if errors else ""})
    every.sort()
    total_errors = sum(r["errors"] for r in rows)
    rows.append({"endpoint": f"all ({args.clients} clients, {elapsed:.0f} s)", "requests": len(every),
                 "errors": total_errors, "req/s": round(len(every) / elapsed, 2), "p50 (ms)": pct(every, 0.5),
                 "p95 (ms)": pct(every, 0.95), "max (ms)": pct(every, 1.0),
                 "first error": f"server RSS: {idle_kb / 1024:.0f} MB after warm-up, peak sampled "
                                f"{max(samples, default=0) / 1024:.0f} MB, high-water mark {peak['VmHWM'] / 1024:.0f} MB"})
    report("load_test", rows)
    if total_errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
