"""Starting the app: what is imported before the server listens.

torch (about 1.3 s of imports) and diffusers (about 3 s more) are for requests and for the preload thread that
app.py starts once the server listens; importing the app and building its page must need neither.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

# What app.main() does before demo.launch(), in a fresh interpreter; then which of the two were imported, and, for
# each, the lines of the project that were running when it was first imported.
BUILD_AS_MAIN_DOES = """
import json, sys, traceback

WATCHED, ROOT, first = ("torch", "diffusers"), sys.argv[1], {}

class FirstImport:
    def find_spec(self, name, path=None, target=None):
        if name in WATCHED and name not in first:
            first[name] = [f"{f.filename[len(ROOT) + 1:]}:{f.lineno}" for f in traceback.extract_stack()
                           if f.filename.startswith(ROOT)]
        return None  # only watches: the import goes on as usual

sys.meta_path.insert(0, FirstImport())
import app
from tabs.common import Models

app.set_up_queue(app.build_demo(Models({}, use_hub=None), None))
print(json.dumps({"imported": {name: name in sys.modules for name in WATCHED}, "from": first}))
"""


def test_importing_the_app_and_building_its_page_imports_neither_torch_nor_diffusers():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GAN_GALLERY_HUB", None)
    result = subprocess.run([sys.executable, "-c", BUILD_AS_MAIN_DOES, str(ROOT)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["imported"] == {"torch": False, "diffusers": False}, report["from"]


# ----------------------------------------------------------------------------- the first gallery's child process
# `python app.py` starts tabs/first_faces.py as a child before it imports gradio; the child draws the Faces tab's
# 16 default faces while the server imports and builds, and the first page load takes them (FirstVisit's ``early``).
RUN_APP_AS_MAIN = """
import json, runpy, subprocess, sys

events, RealPopen = [], subprocess.Popen

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "gradio" and "gradio" not in events:
            events.append("gradio")
        return None

class Recorded(RealPopen):
    def __init__(self, args, *rest, **kw):
        if "tabs.first_faces" in args:
            events.append("child")
        super().__init__(args, *rest, **kw)
        if "tabs.first_faces" in args:
            events.append(self)

sys.meta_path.insert(0, Watch())
subprocess.Popen = Recorded
import tabs.first_faces
tabs.first_faces.CACHE = tabs.first_faces.ROOT / "no-such-cache"  # as after new weights: no cached gallery
sys.argv = ["app.py", "--no-such-option"]  # main() refuses it: the child is stopped, nothing is served
try:
    runpy.run_path("app.py", run_name="__main__")
except SystemExit:
    pass
child = next(e for e in events if isinstance(e, RealPopen))
print(json.dumps({"order": [e for e in events if isinstance(e, str)], "child_ended": child.poll() is not None}))
"""


def test_python_app_py_starts_the_first_gallerys_child_before_importing_gradio_and_stops_it_when_refused():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GAN_GALLERY_HUB", None)
    env.pop("SPACE_ID", None)
    result = subprocess.run([sys.executable, "-c", RUN_APP_AS_MAIN], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"order": ["child", "gradio"], "child_ended": True}


def fake_child_folder(folder, defaults=None, count=16, names=None, mkdir=False):
    """What a child leaves: PNGs and a manifest (``defaults``, ``names`` to spoil it)."""
    from PIL import Image

    from tabs.first_faces import DEFAULTS, MANIFEST

    if mkdir:
        folder.mkdir(parents=True)

    names = names or [f"face-{i:02d}.png" for i in range(count)]
    for i, name in enumerate(names[:count]):
        if name.endswith(".png") and "/" not in name:
            Image.new("RGB", (64, 64), (i, 0, 0)).save(folder / name)
        elif "/" not in name:
            (folder / name).write_text("not a picture")
    manifest = {"defaults": defaults or DEFAULTS._asdict(), "seeds": list(range(len(names))), "files": names}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_take_returns_the_childs_faces_once_and_refuses_anything_else(tmp_path):
    from tabs.first_faces import DEFAULTS, EarlyFaces

    (tmp_path / "good").mkdir()
    good = fake_child_folder(tmp_path / "good")
    files, seeds = EarlyFaces(good, None).take()
    assert [f.name for f in files] == [f"face-{i:02d}.png" for i in range(16)] and seeds == list(range(16))
    assert EarlyFaces(good, None).take() is None  # the manifest is taken with them: never twice
    spoiled = {
        "other defaults": dict(defaults={**DEFAULTS._asdict(), "truncation": 0.7}),
        "too few": dict(count=8, names=[f"face-{i:02d}.png" for i in range(8)]),
        "a file missing": dict(count=15),
        "a file outside": dict(names=[f"face-{i:02d}.png" for i in range(15)] + ["../elsewhere.png"]),
        "not a png": dict(names=[f"face-{i:02d}.png" for i in range(15)] + ["face-15.txt"]),
    }
    for what, how in spoiled.items():
        (tmp_path / what).mkdir()
        assert EarlyFaces(fake_child_folder(tmp_path / what, **how), None).take() is None, what
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "manifest.json").write_text("{not json")
    assert EarlyFaces(tmp_path / "corrupt", None).take() is None
    (tmp_path / "empty").mkdir()
    assert EarlyFaces(tmp_path / "empty", None).take() is None  # the child failed before its manifest


def test_take_stops_a_child_that_is_still_drawing_after_its_timeout(tmp_path):
    from tabs.first_faces import EarlyFaces

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    early = EarlyFaces(tmp_path, proc)
    assert early.take(timeout=0.2) is None
    assert proc.poll() is not None and not tmp_path.exists()  # killed, and its folder removed


def test_the_first_visit_takes_the_early_result_once_instead_of_drawing(tmp_path, monkeypatch):
    import tabs.common as common

    monkeypatch.setattr(common, "OUTPUT_DIR", tmp_path)
    drawn, asked = [], []

    def fn(*inputs):
        drawn.append(inputs)
        return str(common.output_path(".png")), "drawn"

    def early():
        asked.append(1)
        return str(common.output_path(".png")), "early"

    once = common.FirstVisit(fn, (0, 16), early)
    assert once(0, 16)[1] == "early" and once(0, 16)[1] == "early"
    assert asked == [1] and drawn == [] and once.took_early and once.runs == 0
    assert once(1, 16)[1] == "drawn" and drawn == [(1, 16)]  # other inputs: drawn as always, never early
    Path(once(0, 16)[0]).unlink()  # the kept file went: drawn again, the early result is not asked twice
    assert once(0, 16)[1] == "drawn" and asked == [1] and once.runs == 1 and not once.took_early
    nothing = common.FirstVisit(fn, (0, 16), lambda: None)  # the child failed: the first visit draws
    assert nothing(0, 16)[1] == "drawn" and nothing.runs == 1


def test_the_childs_gallery_is_the_one_the_tab_draws_pixel_for_pixel(tmp_path, monkeypatch):
    """The real child, on the embedded weights, against the tab's own /faces function for the tab's defaults."""
    import gradio as gr
    import numpy as np
    from PIL import Image

    import tabs.common as common
    from tabs.common import FirstVisit, Models
    from tabs.faces import early_gallery, faces_tab, make_faces_fns
    from tabs.face_models import DEFAULT_MODEL
    from tabs.first_faces import DEFAULTS, EarlyFaces

    monkeypatch.setattr(common, "OUTPUT_DIR", tmp_path / "outputs")
    monkeypatch.delenv("GAN_GALLERY_HUB", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    models = Models()
    with gr.Blocks() as demo:  # the tab's controls start at DEFAULTS: its first visit asks for them
        faces_tab(models)
    visits = [fn.fn for fn in demo.fns.values() if isinstance(fn.fn, FirstVisit)]
    assert [v.defaults for v in visits if v.fn.__name__ == "faces"] == [tuple(DEFAULTS)]
    assert DEFAULTS.model == DEFAULT_MODEL

    (tmp_path / "child").mkdir()
    child = EarlyFaces(tmp_path / "child", subprocess.Popen([sys.executable, "-m", "tabs.first_faces",
                                                           str(tmp_path / "child")], cwd=ROOT))
    early, early_seed = early_gallery(child)
    drawn, drawn_seed = make_faces_fns(models)[0](*DEFAULTS)
    assert early_seed == drawn_seed == 0 and [c for _, c in early] == [c for _, c in drawn]
    assert all(Path(p).parent == tmp_path / "outputs" for p, _ in early) and not list((tmp_path / "child").glob("*.png"))
    for (a, _), (b, _) in zip(early, drawn):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_the_committed_first_gallery_is_what_the_embedded_weights_draw_now():
    """tabs/first_gallery/ (what a fresh clone's first visitor sees, with no child): drawn from the embedded
    generator's very file, and the same pictures as the pipeline draws for the tab's defaults today (to a level of
    255, for another CPU's rounding). Stale after new weights: `python -m tabs.first_faces --write-cache`."""
    import numpy as np
    from PIL import Image

    from gan_models.registry import DEMOS
    from tabs.first_faces import CACHE, DEFAULTS, cached_gallery

    manifest = cached_gallery()
    assert manifest is not None, "stale or missing: run python -m tabs.first_faces --write-cache"
    pipe = DEMOS["style_faces"].pipeline.from_pretrained(DEMOS["style_faces"].embedded)
    out = pipe(DEFAULTS.count, seed=DEFAULTS.seed, truncation=DEFAULTS.truncation)
    assert manifest["seeds"] == list(out.seeds)
    for name, image in zip(manifest["files"], out.images):
        cached = np.asarray(Image.open(CACHE / name).convert("RGB")).astype(int)
        assert np.abs(cached - np.asarray(image).astype(int)).max() <= 1, name


def test_start_takes_a_matching_cache_without_a_child_and_draws_otherwise(tmp_path, monkeypatch):
    """The cache's copy when its hash is the weights' (the Hub off); a child when the weights changed, the manifest
    is damaged, or the Hub is on (then the weights may be another repo's)."""
    import shutil

    import tabs.first_faces as first_faces

    started = []

    class NoChild:
        def __init__(self, args, *rest, **kw):
            started.append(args)

        def poll(self):
            return 0

        def wait(self, timeout=None):
            return 0

        def kill(self):
            pass

    monkeypatch.setattr(first_faces.subprocess, "Popen", NoChild)
    weights = tmp_path / "weights"
    (weights / "generator").mkdir(parents=True)
    (weights / "generator" / "config.json").write_text("{}")
    (weights / "generator" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights one")
    monkeypatch.setattr(first_faces, "embedded_folder", lambda: weights)
    cache = fake_child_folder(tmp_path / "cache", mkdir=True)
    manifest = json.loads((cache / "manifest.json").read_text())
    (cache / "manifest.json").write_text(json.dumps({**manifest, "weights_sha256": first_faces.weights_hash(weights)}))

    early = first_faces.EarlyFaces.start(use_hub=False, cache=cache)
    assert early.proc is None and started == [] and not early.taken.is_set()
    files, seeds = early.take()
    assert early.taken.is_set() and seeds == list(range(16)) and all(f.parent == early.folder for f in files)
    assert len(list(cache.glob("*.png"))) == 16  # copies: the cache stays whole for the next start

    assert first_faces.EarlyFaces.start(use_hub=True, cache=cache).proc is not None and len(started) == 1
    copied = []

    def copy_until_the_disk_is_full(src, dst):
        if len(copied) == 3:
            raise OSError(28, "No space left on device")
        copied.append(Path(dst).write_bytes(b"part"))

    with monkeypatch.context() as m:  # the copy fails half-way: the child draws, into an emptied folder
        m.setattr(first_faces.shutil, "copyfile", copy_until_the_disk_is_full)
        early = first_faces.EarlyFaces.start(use_hub=False, cache=cache)
        assert early.proc is not None and len(started) == 2 and list(early.folder.iterdir()) == []
    started.pop()
    (weights / "generator" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights two")  # new weights
    assert first_faces.cached_gallery(cache) is None
    assert first_faces.EarlyFaces.start(use_hub=False, cache=cache).proc is not None and len(started) == 2
    shutil.rmtree(cache)
    assert first_faces.EarlyFaces.start(use_hub=False, cache=cache).proc is not None and len(started) == 3


def test_the_childs_command_line(tmp_path, monkeypatch):
    import pytest

    import tabs.first_faces as first_faces

    drawn, cached = [], []
    monkeypatch.setattr(first_faces, "draw", lambda folder, use_hub=False: drawn.append((folder, use_hub)))
    monkeypatch.setattr(first_faces, "write_cache", lambda: cached.append(1) or {"files": [], "weights_sha256": "ab"})
    first_faces.main([str(tmp_path)])
    first_faces.main([str(tmp_path), "--hub"])  # the Hub switched on in the server: the child loads as it will
    assert drawn == [(tmp_path, False), (tmp_path, True)] and cached == []
    first_faces.main(["--write-cache"])
    assert cached == [1] and len(drawn) == 2
    for argv in ([], [str(tmp_path / "missing")], [str(tmp_path), str(tmp_path)]):
        with pytest.raises(SystemExit, match="usage"):
            first_faces.main(argv)
