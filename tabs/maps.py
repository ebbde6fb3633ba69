"""The Maps tab: pix2pix turns an aerial photo into a map, or a map (even one you paint) into a photo."""

from __future__ import annotations

import time

import gradio as gr
import numpy as np
from PIL import Image

from gan_models.core.checks import MAX_SEED
from gan_models.maps.palette import BRUSHES, MAX_INPUT_PIXELS, blank_canvas, draw_map
from gan_models.core.checks import InputError, check_seed
from gan_models.registry import DEMOS

from .common import Models, as_files, guard_upload, on_first_visit, open_upload, output_path, user_error
from .queue_limits import LONG

MAX_UPLOAD_PIXELS = MAX_INPUT_PIXELS  # refused from the header, before anything is decoded
MAX_CANVAS_PIXELS = 4096 * 4096                       # the painting canvas is 256x256; an API client may send more
CANVAS_LIMIT = "16.8 megapixels (4096x4096)"          # the same, in the refusal

DIRECTIONS = [("Aerial photo → map", "a2b"), ("Map → aerial photo", "b2a")]
MODES = [("Tiles: keep the picture's scale (big pictures in overlapping 256x256 tiles)", "tiles"),
         ("Fit: the centre square, resized to one 256x256 tile", "fit")]

MAPS_HOW = """
### How it works
**pix2pix** (Isola et al. 2017) learns to translate one kind of picture into another from
*pairs*: here 1,096 aerial photos of the New York area, each with the Google Maps tile of the
same place. The **generator** is a U-Net: it shrinks the picture eight times down to a single
"pixel" of context (what kind of area is this?) and grows it back, and at every size it also
gets the shrunk input of that size through a *skip connection*, so the roads come out exactly
where they were. The **discriminator** is a *PatchGAN*: it looks at the input and an output side
by side and says real or fake for every 70x70 patch, so it judges local texture, crispness and
style. The generator's loss is "fool the patch discriminator" plus 100 x the pixel-wise L1
distance to the true output: L1 alone gives the right layout but blurry, greyish averages; the
GAN term makes the result look like a real map (flat colours, sharp edges) or a real photo.

Each direction is its own generator (about 2.5 M parameters, 4.9 MB). The model works on 256x256
tiles at the data's scale (a tile shows a few city blocks): **Tiles** keeps your picture's scale
(large pictures are scaled down to about 1 megapixel and translated in overlapping tiles that
are blended, no seams); **Fit** squeezes the centre square into one tile. Photos much more
zoomed in or out than that, or of places unlike New York, are outside what it has seen.
"""


def canvas_value(image: Image.Image) -> dict:
    """The drawing canvas showing ``image`` with nothing painted on it yet."""
    return {"background": image, "layers": [], "composite": image}


def make_maps_fns(models: Models):
    demo = DEMOS["maps"]

    def pipeline():
        return models.get(demo).pipeline

    def translate(image, direction, mode, progress=gr.Progress(track_tqdm=True)):
        """Translate ``image`` (aerial photo or map) in ``direction`` ("a2b": aerial -> map, "b2a": map -> aerial).

        ``mode``: "tiles" (keep the scale, large pictures in tiles) or "fit" (centre square, one tile).
        Returns (output image file, the same file to download, a note on what was done). ``progress`` is
        Gradio's (not an API parameter): a big picture's batches of tiles follow the pipeline's tqdm bar;
        callers outside an event pass None.
        """
        if image is None:
            raise gr.Error("Upload or paste a picture first (or make an example with the buttons).",
                           print_exception=False)
        if not isinstance(image, Image.Image):  # a file path from the upload: opened lazily, checked before decoding
            image = open_upload(image)
        pipe = pipeline()
        try:
            if progress is not None:
                progress(0, desc="Translating")
            t0 = time.perf_counter()
            out = pipe(image, direction, mode=mode)
            ms = (time.perf_counter() - t0) * 1000
        except InputError as err:
            raise user_error(err) from err
        path = output_path(".png")
        out.images[0].save(path)
        size = f"{out.images[0].width}x{out.images[0].height}"
        return str(path), str(path), f"{out.messages[0]}; {size} out in {ms:.0f} ms"

    def sketch(editor):
        """A painted map (the drawing canvas) -> an aerial photo. Returns (image file, note)."""
        composite = editor
        if isinstance(editor, dict):  # nothing painted yet on a canvas set by a button: its background is the map
            composite = editor.get("composite") if editor.get("composite") is not None else editor.get("background")
        if composite is None:
            raise gr.Error("Paint a map first.", print_exception=False)
        if isinstance(composite, np.ndarray):
            composite = Image.fromarray(composite)
        if composite.mode in ("RGBA", "LA", "P"):  # unpainted (transparent) canvas is map background
            ground = Image.new("RGBA", composite.size, BRUSHES["background"])
            composite = Image.alpha_composite(ground, composite.convert("RGBA")).convert("RGB")
        path, _, note = translate(composite, "b2a", "tiles", progress=None)
        return path, note

    def example(kind, seed):
        """An example input made here, never taken from the data: a map drawn by code from ``seed``,
        or ("aerial") the aerial photo the model makes of that map."""
        try:
            seed = check_seed(seed)
            drawn = draw_map(seed, pipeline().tile_size)
            if kind == "map":
                return drawn, "b2a"
            out = pipeline()(drawn, "b2a", mode="fit")
        except InputError as err:
            raise user_error(err) from err
        return out.images[0], "a2b"

    return translate, sketch, example


def maps_tab(models: Models):
    translate, sketch, example = make_maps_fns(models)

    def first_visit(seed):
        """What the tab shows before any click: the example map of ``seed`` as the input, the direction
        that fits it, and its translation: (input file, direction, output file, download, note)."""
        drawn, direction = example("map", seed)
        source = as_files([drawn])[0]
        return (source, direction, *translate(source, direction, "tiles", progress=None))

    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            direction = gr.Radio(DIRECTIONS, value="a2b", label="Direction")
            mode = gr.Radio(MODES, value="tiles", label="Pictures of any size")
            run = gr.Button("Translate", variant="primary")
            note = gr.Markdown()
            with gr.Group():
                seed = gr.Number(value=0, label="Example seed", precision=0, minimum=0, maximum=MAX_SEED)
                with gr.Row():
                    example_map = gr.Button("Example map (drawn by code)", size="sm")
                    example_aerial = gr.Button("Example aerial photo (made by the model)", size="sm")
        with gr.Column(scale=2):
            source = guard_upload(gr.Image(label="Input: an aerial photo or a map (upload or paste)",
                                           type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                           format="png", elem_id="maps-input"), MAX_UPLOAD_PIXELS)
        with gr.Column(scale=2):
            result = gr.Image(label="Output", type="filepath", format="png", interactive=False,
                              buttons=["download", "fullscreen"], elem_id="maps-output")
    download = gr.File(label="Download the output (PNG)")
    with gr.Accordion("Paint a map, get an aerial photo", open=True):
        gr.Markdown("Paint with the map's own colours: streets (white), avenues (yellow), highways (orange), "
                    "water (blue), parks (green), buildings (light grey), or the background colour to erase. "
                    "Wide strokes for water and parks, thin ones for streets.")
        with gr.Row():
            with gr.Column():
                canvas = guard_upload(gr.ImageEditor(
                    value=canvas_value(blank_canvas()), type="pil",
                    image_mode="RGBA", canvas_size=(256, 256), fixed_canvas=True, sources=[], layers=False,
                    transforms=[], label="Your map (256x256)", format="png",
                    brush=gr.Brush(colors=list(BRUSHES.values()), default_color=BRUSHES["street"],
                                   color_mode="fixed", default_size=6), elem_id="maps-canvas"),
                MAX_CANVAS_PIXELS, CANVAS_LIMIT)
                with gr.Row():
                    start = gr.Button("Start from a map drawn by code (example seed)", size="sm")
                    clear = gr.Button("Blank canvas", size="sm")
                paint = gr.Button("Make it an aerial photo", variant="primary")
            with gr.Column():
                painted = gr.Image(label="Aerial photo of your map", type="filepath", format="png",
                                   interactive=False, buttons=["download", "fullscreen"], elem_id="maps-painted")
                painted_note = gr.Markdown()
    gr.Markdown(MAPS_HOW)
    weights_note = gr.Markdown()

    run.click(translate, [source, direction, mode], [result, download, note], api_name="maps", **LONG)
    on_first_visit(first_visit, seed, [source, direction, result, download, note])
    paint.click(sketch, canvas, [painted, painted_note], api_name="maps_sketch")
    example_map.click(lambda s: example("map", s), seed, [source, direction], api_name=False)
    example_aerial.click(lambda s: example("aerial", s), seed, [source, direction], api_name=False)
    start.click(lambda s: canvas_value(example("map", s)[0]), seed, canvas, api_name=False)
    clear.click(lambda: canvas_value(blank_canvas()), None, canvas, api_name=False)
    return weights_note
