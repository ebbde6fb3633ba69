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

    python -m tabs.first_faces FOLDER [--hub]   # what app.py runs (FOLDER: an empty folder of the server's)
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "manifest.json"
WAIT_S = 60.0  # the longest the first page load waits for a child still drawing (it takes about 6 s)


class FacesDefaults(NamedTuple):
    """The Faces tab's default settings (tabs/faces.py builds its controls from these)."""
    seed: int = 0
    count: int = 16
    truncation: float = 0.8
    model: str = "style"


DEFAULTS = FacesDefaults()


def draw(folder: Path, use_hub: bool = False, threads: int = 1) -> dict:
    """Draw DEFAULTS' faces with the style-based model's weights into ``folder``, loaded as the server loads them
    when given no source (``use_hub``: whether the Hub is switched on); write and return the manifest."""
    import torch

    from gan_models.hub.weights_source import load_demo
    from gan_models.registry import DEMOS

    torch.set_num_threads(threads)  # the server's own thread has the other core
    loaded = load_demo(DEMOS["style_faces"], use_hub=use_hub)
    out = loaded.pipeline(DEFAULTS.count, seed=DEFAULTS.seed, truncation=DEFAULTS.truncation)
    files = []
    for i, image in enumerate(out.images):
        files.append(f"face-{i:02d}.png")
        image.save(folder / files[-1])
    manifest = {"defaults": DEFAULTS._asdict(), "seeds": list(out.seeds), "files": files}
    (folder / f"{MANIFEST}.part").write_text(json.dumps(manifest))
    (folder / f"{MANIFEST}.part").replace(folder / MANIFEST)  # the manifest appears whole, after every picture
    return manifest


class EarlyFaces:
    """The child process drawing the first gallery, and what it left: ``start()`` in the server, ``take()`` once."""

    def __init__(self, folder: Path, proc: subprocess.Popen | None, use_hub: bool = False):
        self.folder, self.proc, self.use_hub = Path(folder), proc, use_hub

    @classmethod
    def start(cls, use_hub: bool) -> "EarlyFaces":
        folder = Path(tempfile.mkdtemp(prefix="gan-gallery-first-faces-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
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
        if not self.wait(timeout):
            self.cancel()
            return None
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text())
            (self.folder / MANIFEST).unlink()
            files = [self.folder / name for name in manifest["files"]]
            seeds = [int(s) for s in manifest["seeds"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if (manifest["defaults"] != DEFAULTS._asdict() or len(files) != DEFAULTS.count or len(seeds) != len(files)
                or not all(f.parent == self.folder and f.suffix == ".png" and f.is_file() for f in files)):
            return None
        return files, seeds


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    use_hub = "--hub" in args
    args = [a for a in args if a != "--hub"]
    if len(args) != 1 or not Path(args[0]).is_dir():
        raise SystemExit("usage: python -m tabs.first_faces FOLDER [--hub] (FOLDER: an existing folder)")
    draw(Path(args[0]), use_hub)


if __name__ == "__main__":
    main()
