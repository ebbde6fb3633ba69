"""The Faces tab's sections that only a style-based generator has: style mixing (the StyleGAN paper's figure) and
editing sliders found without labels (GANSpace)."""

from __future__ import annotations

import json
import re

import gradio as gr
from PIL import Image

from gan_models.core.checks import MAX_SEED, InputError, check_float, check_seed
from gan_models.registry import DEMOS

from .common import Models, as_files, user_error

MAX_GRID_SEEDS = 8          # rows or columns of the mixing figure (the pipeline's limit)
MAX_EDIT_SLIDERS = 6        # slots for the model's named edits; unused ones stay hidden
LAYER_CHOICES = [("coarse (4-8 px: pose, face shape, hair length)", "coarse"),
                 ("middle (16-32 px: features, hair style, eyes open)", "middle"),
                 ("fine (64 px: colours, light, skin)", "fine")]
SHOWN = 192                 # the 64x64 faces are shown at 3x

MIX_HOW = """
Each row is face **A** (a seed), each column face **B**. Every picture between is A's face drawn with B's *w*
in the layer groups you tick: **coarse** styles (the 4x4 and 8x8 layers) carry pose, face shape and hair length;
**middle** (16x16, 32x32) the features and hair style; **fine** (64x64) colours and light. With nothing ticked you
see A again; with all three, B. This is the StyleGAN paper's figure 3, and it works only because each layer reads
its own copy of *w*: training mixed two *w*'s at a random layer in 90% of the faces, so no layer could rely on its
neighbours sharing one.
"""

EDIT_HOW = """
**Where the sliders come from.** Nobody labelled these faces. Following GANSpace (Härkönen et al. 2020), 20,000
random *z* were mapped to *w*, and the principal components of those *w*'s (the directions in which they vary
most) were computed. Moving *w* along one, in chosen layers only, changes one thing at a time. Each slider below is
one such direction, named after what it was seen to do when the project looked at it; the directions whose effect
had no clear name were left out. A slider at 1 moves *w* one standard deviation of the random *w*'s along it, so
±3 is the edge of what the model has seen. Things that go together in the training photos move together.
"""


def parse_seed_list(text, name: str) -> list[int]:
    """"0-3, 7" -> [0, 1, 2, 3, 7] (StyleGAN's generate.py form), at most MAX_GRID_SEEDS, each 0 .. 2**32 - 1."""
    if isinstance(text, (list, tuple)):
        return [check_seed(s, f"a seed of {name}") for s in text]
    text = str(text if text is not None else "").strip()
    if not text:
        raise InputError(f"give {name}: seeds like 0-3, 7")
    seeds = []
    for part in re.split(r"[,\s]+", text):
        if not part:
            continue
        match = re.fullmatch(r"(\d{1,10})(?:-(\d{1,10}))?", part)
        if not match:
            raise InputError(f"{name}: {part[:20]!r} is not a seed or a range like 0-3")
        start = check_seed(int(match.group(1)), f"a seed of {name}")
        end = check_seed(int(match.group(2)), f"a seed of {name}") if match.group(2) else start
        if end < start or end - start >= MAX_GRID_SEEDS:
            raise InputError(f"{name}: the range {part} must go up and hold at most {MAX_GRID_SEEDS} seeds")
        seeds.extend(range(start, end + 1))
        if len(seeds) > MAX_GRID_SEEDS:
            raise InputError(f"{name}: give at most {MAX_GRID_SEEDS} seeds")
    return seeds


def named_edits(folder) -> list[dict]:
    """The named edits in a weights folder's ``model_index.json``, read as JSON only (no model, no diffusers: the page
    is built before any model loads); what the sliders are labelled with. Missing or unreadable: none."""
    try:
        data = json.loads((folder / "model_index.json").read_text())
        return [{"name": str(e["name"])[:40], "note": str(e.get("note", ""))[:300]}
                for e in data["edits"]][:MAX_EDIT_SLIDERS]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def make_style_fns(models: Models):
    demo = DEMOS["style_faces"]

    def mix(rows, cols, layers, truncation):
        """The style-mixing figure: faces ``rows`` (seeds like "0-3, 7") with the ``layers`` groups ("coarse",
        "middle", "fine") of faces ``cols``; returns (the figure, a note)."""
        try:
            rows, cols = parse_seed_list(rows, "the rows (A)"), parse_seed_list(cols, "the columns (B)")
            out = models.get(demo).pipeline.style_mix(rows, cols, layers, truncation=truncation)
        except InputError as err:
            raise user_error(err) from err
        grid = out.grid.resize((out.grid.width * 2, out.grid.height * 2), Image.Resampling.NEAREST)
        groups = ", ".join(out.layers) or "no layers (A unchanged)"
        return as_files([grid])[0], f"Rows: seeds {rows}; columns: seeds {cols}; taken from the columns: {groups}."

    def edit(seed, truncation, strength_1=0, strength_2=0, strength_3=0, strength_4=0, strength_5=0, strength_6=0):
        """Seed ``seed``'s face moved along the model's named edit directions: ``strength_i`` is how far along the
        i-th named edit (in the order of the page's sliders, labelled with their names), in standard deviations, -5
        to 5; returns (before | after picture, a note)."""
        strengths = (strength_1, strength_2, strength_3, strength_4, strength_5, strength_6)
        pipe = models.get(demo).pipeline
        try:
            seed = check_seed(seed)
            amounts = {i: check_float(s if s is not None else 0, f"strength_{i + 1}", -5, 5)
                       for i, s in enumerate(strengths)}
            extra = [i + 1 for i, a in amounts.items() if a and i >= len(pipe.edits)]
            if extra:
                raise InputError(f"this model has {len(pipe.edits)} named edits; strength_{extra[0]} has none")
            amounts = {i: a for i, a in amounts.items() if i < len(pipe.edits)}
            before = pipe(seeds=[seed], truncation=truncation).images[0]
            after = pipe.edit(seeds=[seed], strengths=amounts, truncation=truncation).images[0]
        except InputError as err:
            raise user_error(err) from err
        moved = [f"{e.name} {amounts[i]:+g}" for i, e in enumerate(pipe.edits) if amounts.get(i)]
        out = Image.new("RGB", (2 * SHOWN + 8, SHOWN), (255, 255, 255))
        out.paste(before.resize((SHOWN, SHOWN), Image.Resampling.LANCZOS), (0, 0))
        out.paste(after.resize((SHOWN, SHOWN), Image.Resampling.LANCZOS), (SHOWN + 8, 0))
        return as_files([out])[0], f"Seed {seed}: " + (", ".join(moved) if moved else "no edit (both the same)") + "."

    return mix, edit


def mixing_section(models: Models, truncation) -> None:
    """Style mixing, inside the Faces tab; ``truncation`` is the tab's slider."""
    mix, _ = make_style_fns(models)
    with gr.Accordion("Style mixing (style-based model)", open=False):
        gr.Markdown(MIX_HOW)
        with gr.Row():
            rows = gr.Textbox(value="0-3", label="Faces A (rows)", info="seeds: 0-3, 7", elem_id="faces-mix-rows")
            cols = gr.Textbox(value="10-13", label="Faces B (columns)", info="seeds: 10-13", elem_id="faces-mix-cols")
            layers = gr.CheckboxGroup(LAYER_CHOICES, value=["coarse"], label="B's layers that replace A's",
                                      elem_id="faces-mix-layers")
            run = gr.Button("Mix", elem_id="faces-mix")
        figure = gr.Image(label="Style mixing: columns along the top, rows down the left", type="filepath",
                          interactive=False, format="png", elem_id="faces-mix-figure")
        note = gr.Markdown(elem_id="faces-mix-note")
    run.click(mix, [rows, cols, layers, truncation], [figure, note], api_name="faces_mix")


def editing_section(models: Models, truncation) -> None:
    """GANSpace sliders, inside the Faces tab: one per named direction of the embedded style-based model."""
    _, edit = make_style_fns(models)
    edits = named_edits(DEMOS["style_faces"].embedded)
    with gr.Accordion("Edit a face: sliders found without labels (style-based model)", open=False):
        gr.Markdown(EDIT_HOW)
        with gr.Row():
            with gr.Column(scale=1, min_width=240):
                seed = gr.Number(value=0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED,
                                 elem_id="faces-edit-seed")
                sliders = [gr.Slider(-5, 5, value=0, step=0.25, visible=i < len(edits),
                                     label=edits[i]["name"] if i < len(edits) else f"direction {i + 1}",
                                     info=edits[i]["note"] if i < len(edits) else None,
                                     elem_id=f"faces-edit-{i}") for i in range(MAX_EDIT_SLIDERS)]
                run = gr.Button("Edit", elem_id="faces-edit")
            with gr.Column(scale=2):
                picture = gr.Image(label="Before | after", type="filepath", interactive=False, format="png",
                                   elem_id="faces-edited")
                note = gr.Markdown(elem_id="faces-edit-note")
    run.click(edit, [seed, truncation, *sliders], [picture, note], api_name="faces_edit")
