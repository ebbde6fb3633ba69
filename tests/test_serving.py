"""Serving: the server starts without loading a model (first visits are drawn once per process, on the first
page load)."""

from __future__ import annotations

import gradio as gr

import app
from tabs.common import FIRST_VISIT_DIR, Models


def test_building_the_app_loads_no_model(monkeypatch):
    """The server listens first: building the page must not load a pipeline (nor import diffusers for one)."""
    import tabs.common

    load_demo, loads = tabs.common.load_demo, []

    def recorded(demo, *args, **kwargs):
        loads.append(demo.name)
        return load_demo(demo, *args, **kwargs)

    monkeypatch.setattr(tabs.common, "load_demo", recorded)
    demo = app.build_demo(Models(use_hub=False))
    assert isinstance(demo, gr.Blocks) and loads == []


def test_a_second_page_load_serves_the_first_visit_pictures_of_the_first():
    """Every tab's first visit, twice, as two page loads send it (each input's default, through the component):
    the second gets the same files and draws nothing."""
    demo = app.build_demo(Models(use_hub=False))
    loads = [fn for fn in demo.fns.values() if any(event == "load" for _, event in fn.targets)
             and any(getattr(out, "elem_id", None) for out in fn.outputs)]
    by_output = {out.elem_id: fn for fn in loads for out in fn.outputs if getattr(out, "elem_id", None)}
    assert {"faces-gallery", "faces-framing", "digits-gallery", "birds-gallery", "maps-input",
            "superres-input"} <= set(by_output)

    def page_load(fn):
        return fn.fn(*[c.preprocess(c.postprocess(c.value)) for c in fn.inputs])

    def files(value):
        if isinstance(value, (list, tuple)):
            return [f for item in value for f in files(item)]
        return [value] if isinstance(value, str) and value.startswith(str(FIRST_VISIT_DIR)) else []

    for name in ("faces-gallery", "faces-framing", "digits-gallery", "birds-gallery", "maps-input", "superres-input"):
        fn = by_output[name]
        first, second = page_load(fn), page_load(fn)
        assert files(first) and files(second) == files(first), name  # the same files, kept where pruning never goes
        assert fn.fn.runs == 1, name
    gallery, used = page_load(by_output["faces-gallery"])
    assert len(gallery) == 16 and used == 0 and gallery[0][1] == "seed 0"
