"""The Faces tab's first gallery, drawn by a child process while the server starts.

A visitor's first sight is the Faces tab's 16 faces for the default settings. Drawn by the server itself, they come
about 12 s after ``python app.py`` on this CPU: gradio's import (4 s), then torch's and diffusers' (5 s), one after
the other, since imports hold the interpreter's lock and so run on one core however many there are. So app.py
starts this module as a child process before it imports gradio: the child imports torch and diffusers, loads the
same weights (embedded, or with the Hub switched on the repo spaces.yml names), draws the same faces (the tab's
defaults, DEFAULTS) and writes them as PNGs with a manifest, on another core, while the server imports gradio and
builds the page. The first page load takes them (FirstVisit's
``early``); if the child failed, or the server was told to use other weights, the server draws them itself, as
before. Only the server reads this module's files; nothing here imports gradio.

Faster still, and what a fresh clone does: the same 16 faces drawn once from the embedded weights are kept in
``tabs/first_gallery/`` (CACHE) with the SHA-256 of the generator they came from. When the server would load exactly
those weights (embedded, Hub off) and the file's hash matches, it takes those pictures and starts no child; any
other weights, a changed file or a damaged manifest, and the child draws as above. Whoever replaces the embedded
weights draws the cache again (``--write-cache``; a test fails while it is stale).

    python -m tabs.first_faces FOLDER [--hub]   # what app.py runs (FOLDER: an empty folder of the server's)
    python -m tabs.first_faces --write-cache    # draw tabs/first_gallery/ from the embedded weights
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "manifest.json"
CACHE = ROOT / "tabs" / "first_gallery"  # DEFAULTS' faces drawn from the embedded weights, with their hash
WAIT_S = 60.0  # the longest the first page load waits for a child still drawing (it takes about 6 s)


class FacesDefaults(NamedTuple):
    """The Faces tab's default settings (tabs/faces.py builds its controls from these)."""
    seed: int = 0
    count: int = 16
    truncation: float = 0.8
    model: str = "style"


DEFAULTS = FacesDefaults()


def embedded_folder() -> Path:
    from gan_models.registry import DEMOS  # the registry only: no torch, no diffusers

    return DEMOS["style_faces"].embedded


def weights_hash(folder: Path) -> str:
    """SHA-256 of a style-faces folder's generator (its config and weights): what a cached gallery was drawn from."""
    digest = hashlib.sha256()
    for name in ("config.json", "diffusion_pytorch_model.safetensors"):
        digest.update((Path(folder) / "generator" / name).read_bytes())
    return digest.hexdigest()


def draw(folder: Path, use_hub: bool = False, threads: int = 1, weights: Path | None = None) -> dict:
    """Draw DEFAULTS' faces with the style-based model's weights into ``folder``, loaded as the server loads them
    when given no source (``use_hub``: whether the Hub is switched on), or from the folder ``weights`` (then the
    manifest records its hash); write and return the manifest."""
    import torch

    from gan_models.hub.weights_source import load_demo
    from gan_models.registry import DEMOS

    torch.set_num_threads(threads)  # the server's own thread has the other core
    if weights is None:
        pipe, extra = load_demo(DEMOS["style_faces"], use_hub=use_hub).pipeline, {}
    else:
        pipe, extra = DEMOS["style_faces"].pipeline.from_pretrained(weights), {"weights_sha256": weights_hash(weights)}
    out = pipe(DEFAULTS.count, seed=DEFAULTS.seed, truncation=DEFAULTS.truncation)
    files = []
    for i, image in enumerate(out.images):
        files.append(f"face-{i:02d}.png")
        image.save(folder / files[-1])
    manifest = {"defaults": DEFAULTS._asdict(), "seeds": list(out.seeds), "files": files, **extra}
    (folder / f"{MANIFEST}.part").write_text(json.dumps(manifest))
    (folder / f"{MANIFEST}.part").replace(folder / MANIFEST)  # the manifest appears whole, after every picture
    return manifest


def write_cache(cache: Path | None = None, weights: Path | None = None) -> dict:
    """Draw ``cache`` afresh (default CACHE, tabs/first_gallery/) from the embedded weights (or ``weights``)."""
    cache = CACHE if cache is None else Path(cache)
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    return draw(cache, weights=weights or embedded_folder(), threads=1)


def read_manifest(folder: Path) -> tuple[dict, list[Path], list[int]] | None:
    """``folder``'s manifest, its PNG files and their seeds, if it holds DEFAULTS' faces with every file inside the
    folder; else None (no manifest, a damaged one, other defaults, a file missing or outside)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files = [folder / name for name in manifest["files"]]
        seeds = [int(s) for s in manifest["seeds"]]
        ok = (manifest["defaults"] == DEFAULTS._asdict() and len(files) == DEFAULTS.count and len(seeds) == len(files)
              and all(f.parent == folder and f.suffix == ".png" and f.is_file() for f in files))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (manifest, files, seeds) if ok else None


def cached_gallery(cache: Path | None = None, weights: Path | None = None) -> dict | None:
    """The cache's manifest (default CACHE) if it holds DEFAULTS' faces (read_manifest) drawn from the weights the
    server would load (the embedded folder, or ``weights``: their hash must match); else None."""
    found = read_manifest(CACHE if cache is None else Path(cache))
    try:
        ok = found is not None and found[0].get("weights_sha256") == weights_hash(weights or embedded_folder())
    except OSError:
        return None
    return found[0] if ok else None


class EarlyFaces:
    """The first gallery: the child process drawing it and what it left, or the cache's copy (``proc`` None);
    ``start()`` in the server, ``take()`` once."""

    def __init__(self, folder: Path, proc: subprocess.Popen | None, use_hub: bool = False):
        self.folder, self.proc, self.use_hub = Path(folder), proc, use_hub
        self.taken = threading.Event()  # set once take() has been asked (the first page load's faces are out)

    @classmethod
    def start(cls, use_hub: bool, cache: Path | None = None) -> "EarlyFaces":
        """The cached gallery's copy (``cache``, default CACHE), if it was drawn from the weights the server will load
        (embedded, the Hub off); else a child process that draws it."""
        cache = CACHE if cache is None else Path(cache)
        folder = Path(tempfile.mkdtemp(prefix="gan-gallery-first-faces-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        manifest = None if use_hub else cached_gallery(cache)
        if manifest is not None:
            try:
                for name in manifest["files"]:
                    shutil.copyfile(cache / name, folder / name)
                (folder / MANIFEST).write_text(json.dumps(manifest))
                return cls(folder, None, use_hub)
            except OSError:  # could not copy (a full disk, say): the child draws them, into an emptied folder
                for leftover in folder.iterdir():
                    leftover.unlink()
        proc = subprocess.Popen([sys.executable, "-m", "tabs.first_faces", str(folder)] + ["--hub"] * use_hub,
                                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        return cls(folder, proc, use_hub)

    def cancel(self) -> None:
        """Not wanted (the server uses other weights): stop the child and remove its folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def wait(self, timeout: float = WAIT_S) -> bool:
        """Return once the child has ended (True), or after ``timeout`` s (False)."""
        try:
            return self.proc is None or self.proc.wait(timeout) is not None
        except subprocess.TimeoutExpired:
            return False

    def take(self, timeout: float = WAIT_S) -> tuple[list[Path], list[int]] | None:
        """Wait for the child (at most ``timeout`` s), then -> (its PNG files, their seeds), or None if it failed,
        is still drawing, or left anything other than DEFAULTS' faces. The files are the caller's to move; the
        manifest is removed, so a second take() gets None."""
        try:
            return self._take(timeout)
        finally:
            self.taken.set()

    def _take(self, timeout: float):
        if not self.wait(timeout):
            self.cancel()
            return None
        found = read_manifest(self.folder)
        try:
            (self.folder / MANIFEST).unlink(missing_ok=True)  # taken once, whatever it held
        except OSError:
            return None
        return None if found is None else found[1:]


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--write-cache"]:
        manifest = write_cache()
        print(f"drew {len(manifest['files'])} faces into {CACHE.relative_to(ROOT)} from the embedded weights "
              f"(generator SHA-256 {manifest['weights_sha256'][:12]}...)")
        return
    use_hub = "--hub" in args
    args = [a for a in args if a != "--hub"]
    if len(args) != 1 or not Path(args[0]).is_dir():
        raise SystemExit("usage: python -m tabs.first_faces FOLDER [--hub] (FOLDER: an existing folder), or "
                         "python -m tabs.first_faces --write-cache")
    draw(Path(args[0]), use_hub)


if __name__ == "__main__":
    main()
