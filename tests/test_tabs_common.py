"""tabs/common.py in-process: the upload guard on each form in which Gradio gets a picture, and how long the
generated files live. (tests/test_hostile_input.py sends the same pictures to the running app.)"""

from __future__ import annotations

import base64
import io
import os
import time

import gradio as gr
import pytest
from conftest import header_only_png
from gradio.data_classes import ImageData
from PIL import Image

import tabs.common as common


def png_bytes(size, colour="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_a_data_url_is_checked_from_its_header_and_not_mistaken_for_its_file(tmp_path):
    """When a picture comes with a ``data:`` URL, Gradio decodes the URL (not the file path beside it): the guard
    checks the URL's header, so a small file cannot vouch for a huge picture."""
    image = common.guard_upload(gr.Image(type="filepath", image_mode=None, format="png"), 1_000_000)
    small = tmp_path / "small.png"
    small.write_bytes(png_bytes((8, 8)))
    with pytest.raises(gr.Error, match="the picture is 9000x9000 pixels; the largest accepted is 1 megapixels"):
        image.preprocess(ImageData(path=str(small), url=data_url(header_only_png(9_000, 9_000))))
    decoded = image.preprocess(ImageData(path=str(small), url=data_url(png_bytes((20, 10)))))
    with Image.open(decoded) as im:  # what Gradio hands on is the URL's picture
        assert im.size == (20, 10)


def accept(editor, blob_id: str, png: bytes) -> None:
    """What /gradio_api/component_server does with each blob an editor posts (tests/conftest.py, editor_upload)."""
    for kind, index in (("background", None), ("composite", None), ("layer", 0)):
        editor.accept_blobs(gr.data_classes.DataWithFiles(
            data={"id": blob_id, "type": kind, "index": "null" if index is None else str(index)},
            files=[(f"{kind}.png", png)]))


def test_an_editors_stored_blobs_are_checked_from_their_headers_and_dropped_when_refused():
    editor = common.guard_upload(gr.ImageEditor(type="filepath", image_mode="RGB", format="png"), 1_000_000)
    accept(editor, "big", header_only_png(9_000, 9_000))
    with pytest.raises(gr.Error, match="the picture is 9000x9000 pixels; the largest accepted is 1 megapixels"):
        editor.preprocess(editor.data_model(id="big"))
    assert "big" not in editor.blob_storage  # not kept for good (Gradio drops them only after decoding them)
    accept(editor, "broken", png_bytes((30, 20))[:60])
    with pytest.raises(gr.Error, match="not a readable image"):
        editor.preprocess(editor.data_model(id="broken"))
    assert "broken" not in editor.blob_storage
    accept(editor, "fine", png_bytes((30, 20)))
    value = editor.preprocess(editor.data_model(id="fine"))
    with Image.open(value["composite"]) as im:
        assert im.size == (30, 20)
    assert "fine" not in editor.blob_storage


def test_generated_files_live_15_minutes(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "OUTPUT_DIR", tmp_path)
    now = time.time()
    ages = {"fresh.png": 0, "14-minutes.png": 14 * 60, "16-minutes.png": 16 * 60}
    for name, age in ages.items():
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (now - age, now - age))
    common.prune_outputs()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["14-minutes.png", "fresh.png"]


def test_two_demos_loading_at_once_never_import_their_pipelines_at_the_same_time(monkeypatch, tmp_path):
    """The preload thread and a first request for another tab used to import diffusers in two threads at once, and one
    could find it half initialised ("cannot import name 'DiffusionPipeline' from 'diffusers'"). The first imports of
    pipeline modules now take one lock: here two demos' (slow) imports never overlap, and both loads finish."""
    import dataclasses
    import threading
    import time

    import tabs.common as common
    from gan_models.registry import DEMOS

    inside, overlaps = [], []

    def slow_import(cls):  # the first call imports (slowly), later ones find the module imported
        imported = []

        def pipeline_class():
            if not imported:
                if inside:
                    overlaps.append(True)
                inside.append(True)
                time.sleep(0.3)
                inside.pop()
                imported.append(True)
            return cls
        return pipeline_class

    demos = [dataclasses.replace(DEMOS[name], pipeline_class=slow_import(DEMOS[name].pipeline)) for name in
             ("faces", "digits")]
    monkeypatch.setattr(common, "load_demo", lambda demo, *a, **k: (demo.pipeline, demo.name)[1])  # as load_demo
    models = common.Models(use_hub=False)
    threads = [threading.Thread(target=models.get, args=(demo,)) for demo in demos]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not overlaps and models._loaded == {"faces": "faces", "digits": "digits"}
