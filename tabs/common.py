"""What every tab shares: lazily loaded models, user-facing errors, files for generated outputs."""

from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
from PIL import Image, UnidentifiedImageError

from gan_models.core.checks import WeightsError
from gan_models.registry import Demo
from gan_models.hub.weights_source import Loaded, load_demo

log = logging.getLogger("gan_gallery")
OUTPUT_DIR = Path(tempfile.gettempdir()) / "gan-gallery-outputs"  # our generated files only
OUTPUT_TTL_S = 15 * 60
FIRST_VISIT_PREFIX = "first-visit-"  # + a process id: the folder of the files that process's first visits share


def _upload_files(payload) -> list:
    """The uploaded files inside a component's payload: one for an image, several for an editor canvas."""
    if payload is None:
        return []
    if hasattr(payload, "path") or hasattr(payload, "url"):
        return [payload]
    files = [getattr(payload, k, None) for k in ("background", "composite")] + list(getattr(payload, "layers", []) or [])
    return [f for f in files if f is not None]


def _editor_blobs(component, payload) -> list[bytes]:
    """The pictures an ImageEditor keeps for a payload that names them by id.

    Besides uploaded files, Gradio 6.31's editor has a second way in: its layers, background and composite posted as
    PNG bytes to the component's ``accept_blobs`` (``/gradio_api/component_server``), kept in ``blob_storage[id]``;
    the event then submits only ``{"id": ...}``, and ``preprocess`` decodes what is stored under that id (and drops
    it). A page takes this way for an editor with a change or input listener (ours have none: the page uploads the
    pictures as files); any client can take it by hand.
    """
    blob_id = getattr(payload, "id", None)
    stored = getattr(component, "blob_storage", {}).get(blob_id) if blob_id is not None else None
    if stored is None:
        return []
    return [b for b in (stored.background, stored.composite, *(stored.layers or [])) if b is not None]


def _upload_sources(component, payload) -> list:
    """Everything in a payload that Gradio's preprocessing would decode, as PIL can open it: file paths, and the
    bytes of ``data:`` URLs and of an editor's stored blobs."""
    import base64
    import io

    sources = []
    for f in _upload_files(payload):
        url = getattr(f, "url", None) or ""
        if url.startswith("data:"):  # Gradio decodes the URL, not the path, when it has one
            sources.append(io.BytesIO(base64.b64decode(url.split(",", 1)[-1], validate=False)))
        elif getattr(f, "path", None):
            sources.append(f.path)
    return sources + [io.BytesIO(blob) for blob in _editor_blobs(component, payload)]


def _header_size(data) -> tuple[int, int]:
    """(width, height) from an upload's header only: ``Image.open`` decodes nothing until asked."""
    with Image.open(data) as im:
        return im.size


def guard_upload(component, max_pixels: int, limit: str | None = None):
    """Check an upload's pixel count from its header before anything decodes it, and make decoding failures
    reach the user as a message that says what is wrong.

    Gradio's own preprocessing decodes a picture completely when it makes a PIL image (for a PNG,
    even ``getexif()`` runs ``load()``): a solid 13000x13000 PNG is 0.66 MB to send and 676 MB to
    decode. So before Gradio's preprocessing runs, every picture in the payload is opened here
    header-only and refused if it claims more than ``max_pixels`` (``limit`` says so in the message;
    by default in megapixels): uploaded files, ``data:`` URLs (base64 inside the request) and the
    blobs an ImageEditor keeps under an id (see ``_editor_blobs``; refused ones are dropped, as
    Gradio drops them once decoded). Components that take uploads use ``type="filepath"``, which
    Gradio hands on without decoding, and the tab opens the file itself (lazily: the pipeline checks
    the size again before it reads a pixel). (A wrapper on the instance, not a subclass: Gradio
    writes a .pyi file beside the source of every component subclass it sees.)
    """
    preprocess = component.preprocess
    limit = limit or f"{max_pixels / 1e6:g} megapixels"

    def checked(payload):
        for source in _upload_sources(component, payload):
            w, h = _header_size(source)
            if w * h > max_pixels:
                raise gr.Error(f"The upload is refused: the picture is {w}x{h} pixels; the largest accepted is "
                               f"{limit}. Scale it down first.", print_exception=False)
        return preprocess(payload)

    def guarded(payload):
        try:
            return checked(payload)
        except gr.Error:  # ours, above (gr.Error is a ValueError: it must not fall into the clauses below)
            raise
        except Image.DecompressionBombError as err:
            raise gr.Error(f"The upload is refused: its header claims too many pixels to decode safely ({err}).",
                           print_exception=False) from err
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            raise gr.Error("The upload is not a readable image: use a PNG, JPEG, WebP or GIF file "
                           f"({type(err).__name__}).", print_exception=False) from err
        finally:
            # An editor's blobs serve one event: Gradio drops them only after decoding them all, so a refused or
            # failed payload would keep them (up to 10 MB each) in the server's memory for good.
            blob_id = getattr(payload, "id", None)
            if blob_id is not None:
                getattr(component, "blob_storage", {}).pop(blob_id, None)

    component.preprocess = guarded
    return component


def open_upload(path) -> Image.Image:
    """An uploaded file (a path from a ``type="filepath"`` component) opened lazily: header read, pixels not yet."""
    if path is None:
        return None
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise gr.Error("The upload is not a readable image: use a PNG, JPEG, WebP or GIF file "
                       f"({type(err).__name__}).", print_exception=False) from err


# The first load of two demos at once (the preload thread and a first request for another tab) imported diffusers
# in two threads at once, and one of them could find it half initialised ("cannot import name 'DiffusionPipeline'
# from 'diffusers'"): diffusers' lazy module is not safe to import from two threads. Imports take this lock; once
# a pipeline module is imported, taking it again costs microseconds.
_IMPORTS = threading.Lock()


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
                with _IMPORTS:  # one thread at a time imports diffusers and the pipeline modules (see _IMPORTS)
                    demo.pipeline_class()
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


class FirstVisit:
    """A tab's first-visit function, run once per process for the tab's default inputs, then served from memory.

    Every page load asks each tab for what its defaults give (16 faces of seed 0, 8 sevens, ...), which is the same
    for every visitor: the first page load computes it (waiting for the model if it is still loading), the files it
    made move to this process's first_visit_dir(), which pruning leaves alone while the process serves from it, and
    every later page load gets the same files (Gradio copies a returned file into its cache once per content,
    atomically, so sharing one is safe). Inputs other than the defaults (a page never sends them) are computed each
    time, as before, and never kept. If a kept file has gone (something emptied the temporary folder), the next page
    load computes the result again.

    ``fn`` takes the inputs only: no ``gr.Progress`` or ``gr.Request`` (this wrapper hides its signature).
    ``early``, if given, is asked once, by the first page load, before ``fn``: a result made elsewhere for the
    defaults (the Faces tab's, drawn by a child process while the server started: tabs/first_faces.py), in ``fn``'s
    form with its files in OUTPUT_DIR, or None, and then ``fn`` computes it.
    """

    def __init__(self, fn, defaults: tuple, early=None):
        self.fn, self.defaults, self.early = fn, tuple(defaults), early
        self.runs = 0                  # how many times fn ran for the defaults (one, unless a kept file went)
        self.took_early = False        # whether the kept result came from ``early``
        self._result = None
        self._lock = threading.Lock()  # the first page loads wait for one computation, not one each

    def __call__(self, *inputs):
        if inputs != self.defaults:
            return self.fn(*inputs)
        with self._lock:
            if self._result is None or not all(Path(f).is_file() for f in _files_in(self._result)):
                t0 = time.perf_counter()
                early, self.early = (self.early() if self.early is not None else None), None  # asked once
                self.took_early = early is not None
                self._result = _kept(early if early is not None else self.fn(*inputs))
                self.runs += early is None
                log.info("first visit of %s %s in %.2f s (kept for every page load)",
                         getattr(self.fn, "__qualname__", self.fn), "taken early" if early is not None else "drawn",
                         time.perf_counter() - t0)
            elif any(True for _ in _files_in(self._result)):
                os.utime(first_visit_dir())  # in use: another process's pruning leaves a folder touched lately
            return copy.deepcopy(self._result)  # Gradio's postprocessing gets a copy: the kept one never changes


def first_visit_dir() -> Path:
    """This process's folder of first-visit files (FirstVisit)."""
    return OUTPUT_DIR / f"{FIRST_VISIT_PREFIX}{os.getpid()}"


def _is_output_file(value) -> bool:
    return isinstance(value, str) and len(value) < 4096 and Path(value).parent == OUTPUT_DIR


def _files_in(value):
    """The paths of our kept files inside a first-visit result: nested tuples and lists of values."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _files_in(item)
    elif isinstance(value, str) and len(value) < 4096 and Path(value).parent == first_visit_dir():
        yield value


def _kept(value, moved: dict | None = None):
    """``value`` with each of our output files in it moved to first_visit_dir() (a path that appears twice, as the
    Maps tab's output and its download, moves once)."""
    moved = {} if moved is None else moved
    if isinstance(value, (list, tuple)):
        return type(value)(_kept(item, moved) for item in value)
    if _is_output_file(value) and (value in moved or Path(value).is_file()):
        if value not in moved:
            first_visit_dir().mkdir(parents=True, exist_ok=True)
            moved[value] = str(first_visit_dir() / Path(value).name)  # mkstemp's names are unique in OUTPUT_DIR
            os.replace(value, moved[value])
        return moved[value]
    return value


def on_first_visit(fn, inputs, outputs, early=None, **event_options):
    """Run ``fn`` when the page loads, so a tab shows a result before any click (not an API endpoint).

    ``inputs`` are the tab's own controls: the first visit gets what pressing the main button with the
    default settings gives, through the same function, computed once per process (FirstVisit) since it is the
    same for every visitor; ``early``: see FirstVisit. ``event_options`` go to the load event (a
    ``concurrency_id`` shared with the other events that write the same component keeps them in order).
    """
    root = gr.context.Context.root_block
    if root is None:
        raise RuntimeError("build the tab inside gr.Blocks")
    controls = [] if inputs is None else list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    once = FirstVisit(fn, [control.value for control in controls], early)
    return root.load(once, inputs, outputs, api_name=False, **event_options)


def user_error(err: Exception) -> gr.Error:
    return gr.Error(str(err), print_exception=False)


def prune_outputs() -> None:
    """Remove generated files older than OUTPUT_TTL_S (once per request, not per file), and the first-visit folders
    of other processes untouched as long (stopped ones; a live one that had no visitor draws its first visits again).
    This process's first-visit folder stays."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    now, mine = time.time(), first_visit_dir()
    for old in OUTPUT_DIR.iterdir():
        try:
            if now - old.stat().st_mtime <= OUTPUT_TTL_S:
                continue
            if old.is_file():
                old.unlink()
            elif old.name.startswith(FIRST_VISIT_PREFIX) and old != mine:
                shutil.rmtree(old, ignore_errors=True)
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
