"""The Maps tab: an aerial photo into a map, or a map (even one you paint) into a photo, by two models of one task:
pix2pix, trained on pairs (the default), and CycleGAN, trained on the same pictures with the pairs broken. The same
input through both side by side, and the way there and back (photo -> map -> photo), where CycleGAN hides the photo
in its map."""

from __future__ import annotations

import time

import gradio as gr
import numpy as np
from PIL import Image

from gan_models.core.checks import MAX_SEED
from gan_models.maps.drawing import BRUSHES, MAX_INPUT_PIXELS, blank_canvas, draw_map
from gan_models.core.checks import InputError, check_float, check_seed
from gan_models.registry import DEMOS

from .common import Models, as_files, guard_upload, on_first_visit, open_upload, output_path, user_error
from .queue_limits import LONG

MAX_UPLOAD_PIXELS = MAX_INPUT_PIXELS  # refused from the header, before anything is decoded
MAX_CANVAS_PIXELS = 4096 * 4096                       # the painting canvas is 256x256; an API client may send more
CANVAS_LIMIT = "16.8 megapixels (4096x4096)"          # the same, in the refusal

DIRECTIONS = [("Aerial photo → map", "a2b"), ("Map → aerial photo", "b2a")]
# The model choice, as the page and the API name it: a client that sends no model (today's /maps calls) gets pix2pix.
MODELS = {"pix2pix": "maps", "cyclegan": "cyclegan_maps"}   # API value -> registry demo
MODEL_LABELS = [("paired (pix2pix)", "pix2pix"), ("unpaired (CycleGAN)", "cyclegan")]
DEFAULT_MODEL = "pix2pix"
LABEL_OF = {key: label for label, key in MODEL_LABELS}
MAX_NOISE, MAX_GAIN = 16.0, 200.0  # the cycle view's sliders (the pipeline takes up to 64 and 1000)
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


PAIRS_BUY = """
**What pairs buy.** pix2pix was shown, for every aerial photo, the map of the same place, and told pixel by pixel
how far off its own map was: it learns where the roads *are*. CycleGAN never saw a pair. It only had to make maps
that its discriminator takes for maps, and to get the photo back from its own map: it learns what maps *look like*,
and nothing but the way back ties a road in its map to the road in the photo. `python -m gan_models.judges.evaluate
maps` scores both on the same 100 held-out pairs, in one table (README, *Maps: unpaired translation*).
"""

CYCLE_HOW = """
**There and back.** CycleGAN is trained so that photo → map → photo gives the photo back. Chu et al. (2017,
*CycleGAN, a master of steganography*) found that it does so better than a map could, trees and roofs included that
no map shows, and found where they were: hidden in the map, as colour differences of a level or two out of 255 that
nobody sees, which the way back reads. Two ways to look for it here: **Amplify** shows the map minus its flat-colour
version (every area painted its own mean colour), many times brighter, where a hidden photo shows through; **Noise**
adds a little random noise to the map before the way back (σ of 2 levels is hard to see): a hidden signal drowns in
it and the reconstruction falls apart, though the map looks the same. pix2pix's two directions were trained apart,
each on pairs: its photo can come back with only what a map shows. The model and the direction are the ones chosen
above; the map goes back as an 8-bit picture, as the PNG you would download.
"""


def model_demo(model):
    """The registry's demo for a model choice ("pix2pix" or "cyclegan"; None or "" is the default, pix2pix)."""
    key = DEFAULT_MODEL if model in (None, "") else model
    if key not in MODELS:
        raise user_error(InputError(f"model must be one of {', '.join(MODELS)}, got {str(model)[:40]!r}"))
    return DEMOS[MODELS[key]]


def weights_note(models: Models) -> str:
    """Where each model's weights came from, or why the CycleGAN ones are not there yet (the tab's foot)."""
    notes = []
    for label, key in MODEL_LABELS:
        try:
            notes.append(f"{label}: {models.describe(model_demo(key))}")
        except gr.Error as err:  # not installed yet, or broken: the tab still serves the other model
            notes.append(f"{label}: {err.message}")
    return " ".join(notes)


def canvas_value(image: Image.Image) -> dict:
    """The drawing canvas showing ``image`` with nothing painted on it yet."""
    return {"background": image, "layers": [], "composite": image}


def make_maps_fns(models: Models):
    demo = DEMOS["maps"]

    def pipeline():
        return models.get(demo).pipeline

    def translate(image, direction, mode, model=DEFAULT_MODEL, progress=gr.Progress(track_tqdm=True)):
        """Translate ``image`` (aerial photo or map) in ``direction`` ("a2b": aerial -> map, "b2a": map -> aerial).

        ``mode``: "tiles" (keep the scale, large pictures in tiles) or "fit" (centre square, one tile).
        ``model``: "pix2pix" (trained on pairs, the default) or "cyclegan" (trained without them).
        Returns (output image file, the same file to download, a note on what was done). ``progress`` is
        Gradio's (not an API parameter): a big picture's batches of tiles follow the pipeline's tqdm bar;
        callers outside an event pass None.
        """
        demo = model_demo(model)
        image = opened(image)
        pipe = models.get(demo).pipeline
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
        who = "" if demo.name == "maps" else "unpaired (CycleGAN), "  # pix2pix's note reads as it always has
        return str(path), str(path), f"{who}{out.messages[0]}; {size} out in {ms:.0f} ms"

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


def opened(image):
    """The tab's input picture: a PIL image as given, a file path opened lazily (checked before decoding)."""
    if image is None:
        raise gr.Error("Upload or paste a picture first (or make an example with the buttons).", print_exception=False)
    return image if isinstance(image, Image.Image) else open_upload(image)


def make_cycle_fns(models: Models):
    """The functions of the two CycleGAN sections: both models side by side, and the way there and back."""

    def compare(image, direction, mode, progress=gr.Progress(track_tqdm=True)):
        """The same input through both models: (pix2pix output file, CycleGAN output file, note). A model that
        cannot be loaded (CycleGAN's weights not installed yet) leaves its side empty and the note says why."""
        image = opened(image)
        outputs, notes = [], []
        for label, key in MODEL_LABELS:
            try:
                pipe = models.get(model_demo(key)).pipeline
            except gr.Error as err:
                outputs.append(None)
                notes.append(f"{label}: {err.message}")
                continue
            try:
                t0 = time.perf_counter()
                out = pipe(image, direction, mode=mode)
                ms = (time.perf_counter() - t0) * 1000
            except InputError as err:
                raise user_error(err) from err
            path = output_path(".png")
            out.images[0].save(path)
            outputs.append(str(path))
            notes.append(f"{label}: {out.messages[0]}, {ms:.0f} ms")
        return (*outputs, "\n\n".join(notes))

    def cycle(image, direction, mode, model=DEFAULT_MODEL, noise=0.0, gain=25.0,
              progress=gr.Progress(track_tqdm=True)):
        """There and back with ``model``: ``image`` translated in ``direction``, the result translated back.

        ``noise``: the standard deviation (8-bit levels, 0-16) of the noise added to the translation before the way
        back; ``gain``: how many times the map's difference from its flat colours is amplified (1-200; shown when the
        translation is a map, "a2b"). Returns (gallery: input, translation, reconstruction, error picture and, for
        a map, its hidden signal; a note with the reconstruction error).
        """
        try:
            noise = check_float(noise, "noise", 0.0, MAX_NOISE)
            gain = check_float(gain, "gain", 1.0, MAX_GAIN)
        except InputError as err:
            raise user_error(err) from err
        demo = model_demo(model)
        image = opened(image)
        pipe = models.get(demo).pipeline
        try:
            if progress is not None:
                progress(0, desc="There and back")
            out = pipe.cycle(image, direction, mode=mode, noise=noise)
            shown = list(zip(out.images, out.labels))
            note = f"{LABEL_OF[model or DEFAULT_MODEL]}: {out.messages[0]}."
            if direction == "a2b":  # the translation is a map: what it carries beyond its flat colours
                hidden = pipe.hidden_signal(out.images[1], gain=gain)
                shown.append((hidden.images[1], f"the map{' (with the noise)' * bool(noise)} minus its flat "
                                                f"colours, x{gain:g}"))
                note += f" The map {hidden.messages[0].removeprefix('the map ')}."
            else:
                note += " (The amplified view needs a map in the middle: choose Aerial photo → map.)"
        except InputError as err:
            raise user_error(err) from err
        return [(path, caption) for path, (_, caption) in zip(as_files([im for im, _ in shown]), shown)], note

    return compare, cycle


def maps_tab(models: Models):
    translate, sketch, example = make_maps_fns(models)
    compare, cycle = make_cycle_fns(models)

    def first_visit(seed):
        """What the tab shows before any click: the example map of ``seed`` as the input, the direction
        that fits it, and its translation: (input file, direction, output file, download, note)."""
        drawn, direction = example("map", seed)
        source = as_files([drawn])[0]
        return (source, direction, *translate(source, direction, "tiles", progress=None))

    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            model = gr.Radio(MODEL_LABELS, value=DEFAULT_MODEL, label="Model", elem_id="maps-model",
                             info="trained on pairs, or on the same pictures with the pairs broken")
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
    with gr.Accordion("Paired or unpaired: the same input through both models", open=True):
        gr.Markdown(PAIRS_BUY)
        both = gr.Button("Translate with both models")
        with gr.Row():
            paired = gr.Image(label="paired (pix2pix)", type="filepath", format="png", interactive=False,
                              buttons=["download", "fullscreen"], elem_id="maps-paired")
            unpaired = gr.Image(label="unpaired (CycleGAN)", type="filepath", format="png", interactive=False,
                                buttons=["download", "fullscreen"], elem_id="maps-unpaired")
        both_note = gr.Markdown(elem_id="maps-both-note")
    with gr.Accordion("There and back: photo → map → photo, and what the map hides", open=False):
        gr.Markdown(CYCLE_HOW)
        with gr.Row():
            noise = gr.Slider(0, MAX_NOISE, value=0, step=0.5, label="Noise on the map before the way back (σ, levels "
                              "of 255)", info="σ 2 is hard to see; a hidden signal of a level or two drowns in it")
            gain = gr.Slider(1, MAX_GAIN, value=25, step=1, label="Amplify the map's difference from its flat colours",
                             info="x this many times, around mid-grey")
        there_and_back = gr.Button("Go there and back")
        cycled = gr.Gallery(label="input · translation · back again · error x4 · hidden signal", columns=5,
                            height="auto", object_fit="contain", format="png", elem_id="maps-cycle")
        cycle_note = gr.Markdown(elem_id="maps-cycle-note")
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

    run.click(translate, [source, direction, mode, model], [result, download, note], api_name="maps", **LONG)
    both.click(compare, [source, direction, mode], [paired, unpaired, both_note], api_name="maps_compare", **LONG)
    there_and_back.click(cycle, [source, direction, mode, model, noise, gain], [cycled, cycle_note],
                         api_name="maps_cycle", **LONG)
    on_first_visit(first_visit, seed, [source, direction, result, download, note])
    paint.click(sketch, canvas, [painted, painted_note], api_name="maps_sketch")
    example_map.click(lambda s: example("map", s), seed, [source, direction], api_name=False)
    example_aerial.click(lambda s: example("aerial", s), seed, [source, direction], api_name=False)
    start.click(lambda s: canvas_value(example("map", s)[0]), seed, canvas, api_name=False)
    clear.click(lambda: canvas_value(blank_canvas()), None, canvas, api_name=False)
    return weights_note
