"""Shared fixtures: tiny models and datasets made on the spot. No test touches the network."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))

# Belt and braces: nothing in the suite may reach the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.pop("GAN_GALLERY_HUB", None)
os.environ.pop("SPACE_ID", None)
torch.set_num_threads(2)


class PixelFeatures:
    """Stand-in for the Inception network (its file is not a test dependency): mean colour and a few pixel
    statistics. Cheap, deterministic, good enough to rank."""

    name = "pixels"

    def __call__(self, images):
        x = images.float().flatten(2)
        return torch.cat([x.mean(2), x.std(2), x.amax(2), x.amin(2)], 1).double().numpy()


@pytest.fixture
def pixel_features(monkeypatch):
    """FID/KID code paths run with PixelFeatures in place of InceptionFeatures."""
    import gan_models.judges.metrics

    monkeypatch.setattr(gan_models.judges.metrics, "InceptionFeatures", PixelFeatures)
    return PixelFeatures


@pytest.fixture
def tiny_faces_folder(tmp_path):
    """A tiny DCGAN generator saved in the Hub format."""
    from gan_models.faces.dcgan import DCGANGenerator
    from gan_models.faces.pipeline import DCGANPipeline

    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=8, base_channels=4, image_size=32).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding them is really tested
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    folder = tmp_path / "tiny-faces"
    DCGANPipeline(g).save_pretrained(folder)
    return folder


GENERATOR_WEIGHTS = "generator/diffusion_pytorch_model.safetensors"  # inside a saved pipeline folder


def generator_weights(folder) -> dict:
    """The generator's tensors of a saved pipeline folder."""
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / GENERATOR_WEIGHTS))


def make_image_folder(folder: Path, num: int = 24, size: int = 40, mode: str = "RGB") -> Path:
    """Random-blob pictures written as PNGs: a local dataset that ``datasets`` loads as imagefolder."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(num):
        arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).convert(mode).save(folder / f"img_{i:03d}.png")
    return folder


@pytest.fixture
def tiny_image_dataset(tmp_path):
    return make_image_folder(tmp_path / "images")


def make_mnist_like(folder: Path, rows: int, seed: int = 0) -> Path:
    """A labelled 28x28 grayscale dataset laid out as the local MNIST copy is (``train.parquet``: an ``image``
    column and a ``label`` ClassLabel 0-9). Row i is of class i % 10: a bright bar whose place says the class, on
    faint noise, so a classifier can learn it."""
    import io

    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as ImageFeature

    rng = np.random.default_rng(seed)
    labels = [i % 10 for i in range(rows)]
    images = []
    for y in labels:
        pixels = rng.integers(0, 24, (28, 28), dtype=np.uint8)
        pixels[4:24, 2 + 2 * y:6 + 2 * y] = 255
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        images.append({"bytes": buffer.getvalue(), "path": None})
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=[str(k) for k in range(10)])})
    folder.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict({"image": images, "label": labels}, features=features).to_parquet(str(folder / "train.parquet"))
    return folder


# ----------------------------------------------------------------------------- pictures that claim many pixels
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(width: int, height: int, bit_depth: int, color_type: int, idat: bytes) -> bytes:
    import struct

    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
            + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))


def header_only_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height, with only a few rows of data: a decompression bomb's shape."""
    import zlib

    rows = b"".join(b"\x00" + b"\x00" * (width * 3) for _ in range(4))
    return _png(width, height, 8, 2, zlib.compress(rows, 9))


def solid_png(width: int, height: int, pixel, color_type: int = 6, bit_depth: int = 8) -> bytes:
    """A real PNG whose every row holds its pixels (``pixel``: one pixel's bytes, e.g. RGBA by default, or two
    bytes of 16-bit grey with ``color_type=0, bit_depth=16``), compressed 100 rows at a time (never all in memory)."""
    import zlib

    assert height % 100 == 0
    rows = (b"\x00" + bytes(pixel) * width) * 100
    packer = zlib.compressobj(6)
    data = b"".join(packer.compress(rows) for _ in range(height // 100)) + packer.flush()
    return _png(width, height, bit_depth, color_type, data)


def editor_upload(base: str, elem_id: str, png: bytes, session_hash: str = "hostile") -> dict:
    """Send a picture to a running app's ImageEditor as blobs: background, composite and layer 0 each posted to the
    component's ``accept_blobs`` through /gradio_api/component_server, as Gradio 6.31's editor in a page does when it
    has a change or input listener; returns the payload to submit then, ``{"id": ...}``."""
    import secrets

    import httpx

    config = httpx.get(f"{base}/config", timeout=30).json()
    component_id = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    blob_id = secrets.token_hex(5)
    for kind, index, name in (("background", "null", "background.png"), ("composite", "null", "composite.png"),
                              ("layer", "0", "layer_0.png")):
        reply = httpx.post(f"{base}/gradio_api/component_server/", timeout=60,
                           data={"id": blob_id, "type": kind, "index": index, "component_id": str(component_id),
                                 "fn_name": "accept_blobs", "session_hash": session_hash},
                           files={"file": (name, png, "image/png")})
        reply.raise_for_status()
    return {"id": blob_id}


# ----------------------------------------------------------------------------- the real app, as `python app.py`
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """`python app.py` running in a process of its own on a loopback port, with its embedded weights (``args``:
    more command-line arguments)."""

    def __init__(self, port: int, log_path: Path, args: tuple[str, ...] = ()):
        import subprocess

        self.port, self.url, self.log_path = port, f"http://127.0.0.1:{port}", log_path
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "2"}
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), *args], cwd=ROOT,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 90) -> None:
        import time
        import urllib.request

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"python app.py exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"python app.py did not answer within {timeout} s: {self.log_path.read_text()[-2000:]}")

    def reset_peak_memory(self) -> None:
        """Linux: restart the process's peak-RSS counter (VmHWM), so the next reading is one request's peak."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def peak_memory_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/<pid>/status")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except Exception:
            self.proc.kill()
        self._log.close()


# ----------------------------------------------------------------------------- the browser (tests/test_browser.py)
CHROMIUM = "/usr/bin/chromium"  # Debian's; `playwright install` is never needed (nor possible offline)
# Headless, and nothing that phones home: without the background-networking flags Chromium's own
# connections (component updates, sync, QUIC probes) are refused by a closed network, and it says so.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}


def launch_chromium(playwright):
    """Debian's Chromium through Playwright (the browser tests and docs/screenshot.py)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="session")
def app_process(tmp_path_factory):
    """The app exactly as users start it (`python app.py`, its launch options, embedded weights), with a made-up
    MNIST for the Digits tab's classifier section (``--mnist``): 10,500 rows, so that the embedded cGAN's 10,000
    held-out rows leave 500 to train on. Nothing is downloaded, and the real data is not needed."""
    mnist = make_mnist_like(tmp_path_factory.mktemp("mnist-like"), 10_500)
    app = AppProcess(free_port(), tmp_path_factory.mktemp("app") / "app.log", ("--mnist", str(mnist)))
    try:
        app.wait_ready()
        yield app
    finally:
        app.stop()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on its test (item.rep_setup, item.rep_call, ...): fixtures read whether the test failed
    (tests/test_browser.py keeps a screenshot of the page when it did)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
