"""What a hostile picture costs the server on each way in: peak memory and time until it is refused.

    python benchmarks/bench_uploads.py [--repeat 3] [--name uploads]

Starts `python app.py` as tests/test_hostile_input.py does (tests/conftest.py's AppProcess) and sends pictures that
are small to send and big to decode: a solid 13000x13000 RGBA PNG (0.7 MB; 676 MB decoded) and a solid 6600x6000
16-bit grey PNG (0.1 MB; 79 MB decoded, more once widened). Each goes in the ways its endpoint takes: an ordinary
upload (what gradio_client and the page send) and, for the two ImageEditors, as blobs: the editor's background,
composite and layer posted to /gradio_api/component_server (``accept_blobs``), then the event with only
``{"id": ...}`` (what a page sends for an editor with a change or input listener, which ours have not; any client
can send it by hand).

Each row gets a fresh server, which first answers a valid picture sent the same way (its model loaded, its code
warm). Then, per hostile request, the server's peak RSS (VmHWM) is reset through /proc/<pid>/clear_refs and read
again after the answer: "peak grew" is that request's rise (sending included) over the memory before it. Read the
first run (memory a decode took stays resident, so later runs of the same picture may grow less). "Sending" is the
upload, or the three blob posts (with the /config read that finds the editor); "event to refusal" runs from the
event's POST to its error. Loopback only; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from timing import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import AppProcess, editor_upload, free_port, solid_png  # noqa: E402  (the tests' own app and pictures)


def png(size, mode="RGB", colour=(90, 120, 60)) -> bytes:
    buffer = io.BytesIO()
    from PIL import Image

    Image.new(mode, size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def answer(base: str, api_name: str, data: list) -> tuple[str, str]:
    """POST an event and read its result stream: ("complete" or "error", the error message or the data)."""
    import httpx

    reply = httpx.post(f"{base}/gradio_api/call/{api_name}", json={"data": data}, timeout=60)
    reply.raise_for_status()
    with httpx.stream("GET", f"{base}/gradio_api/call/{api_name}/{reply.json()['event_id']}", timeout=300) as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = json.loads(line[5:].strip())
                return event, payload["error"] if event == "error" else json.dumps(payload)[:200]
    raise RuntimeError(f"{api_name}: no result")


def upload(base: str, path: Path) -> dict:
    """An ordinary upload: the file posted to /gradio_api/upload, then named in the event's data."""
    import httpx

    reply = httpx.post(f"{base}/gradio_api/upload", files={"files": (path.name, path.read_bytes(), "image/png")},
                       timeout=60)
    reply.raise_for_status()
    return {"path": reply.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


# endpoint, way -> the event's data for a picture file
WAYS = {
    ("/maps", "upload"): lambda base, p: [upload(base, p), "a2b", "tiles"],
    ("/upscale", "upload"): lambda base, p: [upload(base, p)],
    ("/faces_project", "upload"): lambda base, p: [dict.fromkeys(("background", "composite"), upload(base, p))
                                                   | {"layers": []}, 0, 0],
    ("/faces_project", "blobs"): lambda base, p: [editor_upload(base, "faces-photo", p.read_bytes()), 0, 0],
    ("/maps_sketch", "blobs"): lambda base, p: [editor_upload(base, "maps-canvas", p.read_bytes())],
}
HOSTILE = [("/maps", "upload", "13000x13000-rgba.png"), ("/faces_project", "upload", "13000x13000-rgba.png"),
           ("/faces_project", "blobs", "13000x13000-rgba.png"), ("/maps_sketch", "blobs", "13000x13000-rgba.png"),
           ("/upscale", "upload", "6600x6000-16bit.png")]
VALID = {"/maps": "300x200.png", "/upscale": "64x48.png", "/faces_project": "64x64.png", "/maps_sketch": "canvas.png"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--name", default="uploads", help="results/<name>.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {"13000x13000-rgba.png": solid_png(13_000, 13_000, (40, 90, 160, 255)),
                 "6600x6000-16bit.png": solid_png(6_600, 6_000, b"\x80\x00", color_type=0, bit_depth=16),
                 "300x200.png": png((300, 200)), "64x48.png": png((64, 48)), "64x64.png": png((64, 64)),
                 "canvas.png": png((256, 256), "RGBA", (0, 0, 0, 0))}
        for name, data in files.items():
            (folder / name).write_bytes(data)
        rows = []
        for api_name, way, name in HOSTILE:  # a fresh server for each: what one refused decode leaves resident
            app = AppProcess(free_port(), folder / "app.log")  # (glibc keeps it) would hide the next one's rise
            try:
                app.wait_ready(timeout=300)  # a loaded CPU can take minutes
                base = app.url
                event, got = answer(base, api_name.strip("/"), WAYS[api_name, way](base, folder / VALID[api_name]))
                assert event == "complete", (api_name, way, got)  # warm: this way answers a valid picture first
                grown, sending, seconds, message = [], [], [], ""
                for _ in range(args.repeat):
                    app.reset_peak_memory()
                    baseline = app.peak_memory_mb()
                    t0 = time.perf_counter()
                    data = WAYS[api_name, way](base, folder / name)
                    t1 = time.perf_counter()
                    event, message = answer(base, api_name.strip("/"), data)
                    seconds.append(time.perf_counter() - t1)
                    sending.append(t1 - t0)
                    grown.append(app.peak_memory_mb() - baseline)
                    assert event == "error", (api_name, way, message)
            finally:
                app.stop()
            rows.append({"endpoint": api_name, "way": way, "picture": name,
                         "file (MB)": round(len(files[name]) / 2**20, 2),
                         "peak grew (MB), first": round(grown[0], 1),
                         "peak grew (MB), each run": [round(g, 1) for g in grown],
                         "sending (s), median": round(statistics.median(sending), 2),
                         "event to refusal (s), each run": [round(t, 2) for t in seconds],
                         "message": message[:110]})
    report(args.name, rows)


if __name__ == "__main__":
    main()
