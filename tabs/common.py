"""What every tab shares: lazily loaded models, user-facing errors, files for generated outputs."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
from PIL import Image, UnidentifiedImageError

from gan_models.layers import WeightsError
from gan_models.registry import Demo
from gan_models.weights_source import Loaded, load_demo

log = logging.getLogger("gan_gallery")
OUTPUT_DIR = Path(tempfile.gettempdir()) / "gan-gallery-outputs"  # our generated files only
OUTPUT_TTL_S = 15 * 60


def guard_upload(image: gr.Image) -> gr.Image:
    """Make ``image``'s decoding failures reach the user as a message that says what is wrong.

    Gradio opens an upload with PIL before our function runs; a file that is not an image, or
    whose header claims a decompression bomb's size, would otherwise fail with a generic
    "could not preprocess" error. PIL reads only the header there, so nothing big is decoded.
    (A wrapper on the instance, not a subclass: Gradio writes a .pyi file beside the source of
    every component subclass it sees.)
    """
    preprocess = image.preprocess

    def checked(payload):
        try:
            return preprocess(payload)
        except Image.DecompressionBombError as err:
            raise gr.Error(f"The upload is refused: its header claims too many pixels to decode safely ({err}).",
                           print_exception=False) from err
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            raise gr.Error("The upload is not a readable image: use a PNG, JPEG, WebP or GIF file "
                           f"({type(err).__name__}).", print_exception=False) from err

    image.preprocess = checked
    return image


class Models:
    """Each demo's pipeline, loaded on first use (thread-safe), with where its weights came from."""

    def __init__(self, sources: dict[str, tuple[str, str | None]] | None = None, use_hub: bool | None = None):
        self.sources, self.use_hub = sources or {}, use_hub
        self._loaded: dict[str, Loaded] = {}
        self._locks: dict[str, threading.Lock] = {}  # one per demo: a slow birds load never blocks faces
        self._locks_lock = threading.Lock()          # guards only the dict of locks (held for microseconds)

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(name, threading.Lock())

    def get(self, demo: Demo) -> Loaded:
        loaded = self._loaded.get(demo.name)
        if loaded is not None:  # the common case: no lock at all
            return loaded
        with self._lock(demo.name):  # the first requests for a demo wait for one load, not one each
            if demo.name not in self._loaded:
                source, revision = self.sources.get(demo.name, (None, None))
                try:
                    self._loaded[demo.name] = load_demo(demo, source, revision, use_hub=self.use_hub)
                except WeightsError as err:
                    raise gr.Error(f"The {demo.title} model cannot be loaded: {err}") from err
            return self._loaded[demo.name]

    def describe(self, demo: Demo) -> str:
        loaded = self.get(demo)
        note = f"Weights: {loaded.origin}."
        if loaded.fallback:
            note += f" (The configured source could not be used: {loaded.fallback})"
        return note


def user_error(err: Exception) -> gr.Error:
    return gr.Error(str(err), print_exception=False)


def prune_outputs() -> None:
    """Remove generated files older than OUTPUT_TTL_S (once per request, not per file)."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in OUTPUT_DIR.iterdir():
        try:
            if now - old.stat().st_mtime > OUTPUT_TTL_S:
                old.unlink()
        except OSError:
            pass


def output_path(suffix: str, prune: bool = True) -> Path:
    """A fresh file for a generated output (pruning old ones first, unless the caller just did)."""
    if prune:
        prune_outputs()
    fd, name = tempfile.mkstemp(suffix=suffix, dir=OUTPUT_DIR)
    os.close(fd)
    return Path(name)


def as_files(images) -> list[str]:
    """Save PIL images as uniquely named PNGs of our own and return their paths.

    Gradio caches a returned PIL image as <content hash>/image.png, so two requests that
    produce the same picture at once (every visitor's first gallery is seed 0) share one
    cache file, and one can be served while the other rewrites it (a truncated response,
    seen under 8 concurrent clients). Files with unique names get a path of their own.
    """
    prune_outputs()
    paths = []
    for image in images:
        path = output_path(".png", prune=False)
        image.save(path)
        paths.append(str(path))
    return paths
