"""tabs/common.py in-process: the upload guard on each form in which Gradio gets a picture.
(tests/test_hostile_input.py sends such pictures to the running app.)"""

from __future__ import annotations

import io

import gradio as gr
import pytest
from conftest import header_only_png
from PIL import Image

import tabs.common as common


def png_bytes(size, colour="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


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
