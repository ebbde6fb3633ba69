"""The Super-resolution tab: a picture 4x larger, as bicubic, SRResNet and SRGAN side by side, with a linked zoom."""

from __future__ import annotations

import time

import gradio as gr
from PIL import Image

from gan_models.core.checks import MAX_SEED, InputError, check_float, check_seed
from gan_models.registry import DEMOS

from .common import Models, as_files, guard_upload, on_first_visit, open_upload, user_error
from .queue_limits import LONG

MAX_UPSCALE_PIXELS = 512 * 512   # what the pipeline upscales (SuperResolutionPipeline.max_pixels); the tab says so
MAX_UPLOAD_PIXELS = MAX_UPSCALE_PIXELS  # refused from the header, before anything is decoded: no more than it upscales
METHODS = ("bicubic", "srresnet", "srgan")
TITLES = {"bicubic": "Bicubic", "srresnet": "SRResNet (pixel loss)", "srgan": "SRGAN (+ adversarial, feature losses)"}
ZOOM_SIDE = 256                  # the zoom crops are shown this many pixels wide

SUPERRES_HOW = """
### How it works
**SRResNet** (Ledig et al. 2017) is a convolutional network that works at the *small* picture's
size, where convolutions are cheap: a 9x9 convolution, a stack of residual blocks, then two
**sub-pixel convolutions** (Shi et al. 2016), each a convolution to 4x the channels followed by
a *pixel shuffle* that rearranges every group of 4 channels into a 2x2 block of pixels, so the
picture doubles twice (4x). Ours adds its result to the bicubic upscale, so it learns only the
missing detail.

**Why the pixel loss blurs.** Trained to minimise the pixel-wise distance to the true large
picture, the network learns the *average* of every sharp picture that shrinks to your small
one: where the small picture cannot say where a hair or a roof tile was, the average of all the
places is a smooth smear. That average is the best answer for PSNR and looks blurry.

**What the GAN adds.** SRGAN fine-tunes the same network with two more losses: a
**discriminator** that tells real large pictures from upscaled ones (so the network is pushed to
pick *one* plausible sharp picture, with texture, instead of the blurry average), and a
**feature loss** that compares the pictures in the feature maps of a frozen image classifier
(here EfficientNet-Lite0's early layers, which respond to edges and textures) rather than in
pixels. The texture is invented: it is plausible, not necessarily what was there.

**The trade-off** (Blau & Michaeli 2018, "The perception-distortion trade-off"): no method can
be both as close as possible to the truth on average (low distortion, high PSNR) and as
indistinguishable as possible from real pictures (perceptual quality); beyond a point, gaining one
costs the other. SRResNet sits at the low-distortion end, SRGAN further towards realism.
**ESRGAN** (Wang et al. 2018) then removed BatchNorm from the generator (we do too), used
residual-in-residual dense blocks, a *relativistic* discriminator (is the real picture more
realistic than the fake one?) and VGG features taken before the activation, and blended the
PSNR and GAN networks' weights to choose a point on the trade-off.

**Limits.** The models learned from clean bicubic downscales of faces, bird photos and aerial
photos (64x64 → 256x256 and crops): real-world small pictures (JPEG artefacts, noise, camera
blur) are outside what they saw. Pictures up to 512x512 pixels (262,144 pixels) are upscaled,
larger ones refused; pictures over 256 pixels on a side run in tiles, each with a margin of
context wide enough that the stitched result equals one pass (no seams).
"""


def make_superres_fns(models: Models):
    demo = DEMOS["superres"]

    def pipeline():
        return models.get(demo).pipeline

    def upscale(image, progress=gr.Progress(track_tqdm=True)):
        """Upscale ``image`` 4x three ways. Returns (bicubic file, SRResNet file, SRGAN file, note).

        ``progress`` is Gradio's (not an API parameter): big pictures' tiles follow the pipeline's tqdm bar;
        callers outside an event pass None.
        """
        if image is None:
            raise gr.Error("Upload or paste a picture first (or send one from the Faces or Birds tab).",
                           print_exception=False)
        if not isinstance(image, Image.Image):  # a file path from the upload: opened lazily, checked before decoding
            image = open_upload(image)
        pipe = pipeline()
        try:
            picture = pipe.prepare(image)  # decoded and checked once, for all three
            if progress is not None:
                progress(0, desc="Upscaling")
            outputs, times = [], []
            for method in METHODS:
                t0 = time.perf_counter()
                outputs.append(pipe(picture, method))
                times.append((time.perf_counter() - t0) * 1000)
        except InputError as err:
            raise user_error(err) from err
        paths = as_files([out.images[0] for out in outputs])
        w, h = picture.size
        out_w, out_h = outputs[0].images[0].size
        tiles = outputs[-1].tiles
        note = (f"{w}x{h} -> {out_w}x{out_h}" + (f", in {tiles} tiles" if tiles > 1 else "") + "; " +
                ", ".join(f"{TITLES[m].split(' (')[0]} {t:.0f} ms" for m, t in zip(METHODS, times)))
        return (*paths, note)

    def zoom(bicubic_path, srresnet_path, srgan_path, x, y, size):
        """The same square of each output, enlarged (nearest neighbour): (bicubic, SRResNet, SRGAN crops).

        ``x``, ``y``: the crop's centre in percent of the width and height; ``size``: its side in output pixels."""
        paths = [bicubic_path, srresnet_path, srgan_path]
        if any(p is None for p in paths):
            return None, None, None
        try:
            x, y = check_float(x, "x", 0, 100), check_float(y, "y", 0, 100)
            size = int(check_float(size, "size", 8, 512))
        except InputError as err:
            raise user_error(err) from err
        crops = []
        for path in paths:
            with Image.open(path) as im:
                im = im.convert("RGB")
                s = min(size, im.width, im.height)
                left = round((im.width - s) * x / 100)
                top = round((im.height - s) * y / 100)
                crops.append(im.crop((left, top, left + s, top + s)).resize((ZOOM_SIDE, ZOOM_SIDE),
                                                                             Image.Resampling.NEAREST))
        return tuple(as_files(crops))

    def example(kind, seed):
        """An example input made by the gallery's own models, never cut from the data: a 64x64 face from the Faces
        tab's DCGAN ("face"), or ("aerial") a 64x64 aerial photo: pix2pix's photo of a map drawn by code, shrunk."""
        try:
            seed = check_seed(seed)
            if kind == "face":
                picture = models.get(DEMOS["faces"]).pipeline(1, seed=seed, truncation=0.8).images[0]
            else:
                from gan_models.maps.drawing import draw_map

                maps = models.get(DEMOS["maps"]).pipeline
                picture = maps(draw_map(seed, maps.tile_size), "b2a", mode="fit").images[0]
                picture = picture.resize((64, 64), Image.Resampling.BICUBIC)
        except InputError as err:
            raise user_error(err) from err
        return as_files([picture])[0]

    return upscale, zoom, example


def send_to_superres_button(gallery: gr.Gallery, what: str):
    """A button beside a gallery that sends its selected picture (the first, if none is selected) to the
    Super-resolution tab. Returns (button, selected index state); app.py wires the click once that tab exists."""
    selected = gr.State(0)
    button = gr.Button(f"Send the selected {what} to Super-resolution", size="sm")

    def select(event: gr.SelectData):  # Gradio passes the selection by this annotation
        return event.index if isinstance(event.index, int) else 0

    gallery.select(select, None, selected, api_name=False)
    return button, selected


def picked(gallery_value, index):
    """The picture at ``index`` of a gallery's value (a list of (file, caption)), or a clear error."""
    if not gallery_value:
        raise gr.Error("Make some pictures first, then send one.", print_exception=False)
    index = index if isinstance(index, int) and 0 <= index < len(gallery_value) else 0
    item = gallery_value[index]
    return item[0] if isinstance(item, (list, tuple)) else item


# Every event that writes the tab's input (its first visit, the example buttons, the Faces and Birds tabs' send buttons)
# runs in one queue, one at a time, in the order they were asked for: the first visit's example, queued when the page
# loads, can then never land after (and overwrite) a picture the user sent while it was still being made.
INPUT_WRITERS = dict(concurrency_id="superres-input", concurrency_limit=1)


def superres_tab(models: Models):
    """Builds the tab; returns (weights note, the input image, the tab's id) for app.py's send buttons."""
    upscale, zoom, example = make_superres_fns(models)

    def first_visit(seed):
        """What the tab shows before any click: seed's face from the Faces tab, upscaled three ways."""
        source = example("face", seed)
        return (source, *upscale(source, progress=None))

    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            source = guard_upload(gr.Image(label="Input: a small picture (upload or paste)", type="filepath",
                                           image_mode=None, sources=["upload", "clipboard"], format="png",
                                           elem_id="superres-input"),
                                  MAX_UPLOAD_PIXELS, f"{MAX_UPSCALE_PIXELS:,} pixels (for example 512x512)")
            run = gr.Button("Upscale 4x", variant="primary")
            note = gr.Markdown(f"Up to {MAX_UPSCALE_PIXELS:,} input pixels (e.g. 512x512 -> 2048x2048).")
            with gr.Group():
                seed = gr.Number(value=0, label="Example seed", precision=0, minimum=0, maximum=MAX_SEED)
                with gr.Row():
                    example_face = gr.Button("Example face (made by the DCGAN)", size="sm")
                    example_aerial = gr.Button("Example aerial photo (made by pix2pix)", size="sm")
        outputs = []
        for method in METHODS:
            with gr.Column(scale=2):
                outputs.append(gr.Image(label=TITLES[method], type="filepath", format="png", interactive=False,
                                        buttons=["download", "fullscreen"], elem_id=f"superres-{method}"))
    with gr.Accordion("Zoom: the same part of all three", open=True):
        with gr.Row():
            x = gr.Slider(0, 100, value=50, step=1, label="Across (%)")
            y = gr.Slider(0, 100, value=50, step=1, label="Down (%)")
            size = gr.Slider(16, 256, value=64, step=8, label="Crop side (output pixels)")
        with gr.Row():
            crops = [gr.Image(label=f"{TITLES[m].split(' (')[0]}, zoomed", type="filepath", format="png",
                              interactive=False, elem_id=f"superres-zoom-{m}") for m in METHODS]
    gr.Markdown(SUPERRES_HOW)
    weights_note = gr.Markdown()

    run.click(upscale, source, [*outputs, note], api_name="upscale", **LONG).then(
        zoom, [*outputs, x, y, size], crops, api_name=False)
    for control in (x, y, size):
        control.release(zoom, [*outputs, x, y, size], crops, api_name=False)
    on_first_visit(first_visit, seed, [source, *outputs, note], **INPUT_WRITERS).then(
        zoom, [*outputs, x, y, size], crops, api_name=False)
    example_face.click(lambda s: example("face", s), seed, source, api_name=False, **INPUT_WRITERS)
    example_aerial.click(lambda s: example("aerial", s), seed, source, api_name=False, **INPUT_WRITERS)
    return weights_note, source

