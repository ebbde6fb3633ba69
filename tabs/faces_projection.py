"""The Faces tab's "bring your own face" section: a photo projected into the generator's latent space, a walk from
it to a seed, and its latent as a file to download and load again."""

from __future__ import annotations

import time

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from gan_models.core.checks import MAX_SEED, InputError, check_int, check_seed

from .common import Models, as_files, guard_upload, on_first_visit, output_path, user_error
from .face_models import DEFAULT_MODEL, model_demo
from .queue_limits import LONG

MAX_PHOTO_UPLOAD_PIXELS = 4096 * 4096  # refused from the header, before anything is decoded (as the pipeline)
PHOTO_LIMIT = "16.8 megapixels (4096x4096)"  # the same, in the refusal
MAX_STEPS = 400  # the cost cap: twice the default (200 steps take 8.3 s here, see the README)
DEFAULT_STEPS = 200
MAX_WALK_FRAMES = 60  # the walk from a projected face to a seed (as the faces' interpolation)
SHOWN = 192  # the 64x64 pictures are shown at 3x
EYES, MOUTH = 0.50, 0.80  # where the training crops have them (the mean face's dark rows), as fractions of the height

PROJECT_INTRO = """
### Bring your own face
The photo goes into the model chosen at the top of the tab. Upload, paste or take a photo, **crop it to the face** with the crop tool (the square icon) so it is framed like
the example: the face (ear to ear) fills about two thirds of the width, eyes at half height, mouth at four
fifths, chin at the bottom edge, some hair at the top, a frontal view. Then *Find the closest face*: the generator cannot copy your photo, it can only search its own
faces for the one nearest to it. What works: one frontal face, evenly lit, framed like the example. Face
detection is not available here, so a photo that is not a face (or a face framed otherwise) still gets an
answer: the nearest face the model can draw, which will look little like it.
"""

PROJECT_HOW = """
#### How projection works
The generator G is frozen; what changes is its input. For the **DCGAN**, that is *z* (128 numbers): starting from
the best of 256 random *z*, Adam takes 200 steps (by default) of gradient descent on *z* through G, to make G(*z*)
look like the photo. For the **style-based model** it is *w*, one per layer (**W+**, 10 x 256 numbers), from the
best of 32 random seeds' *w*: the mapping network has already turned *z* into a far less tangled space, and one
*w* per layer reaches more faces than one *w* for all. The loss has three parts. A **pixel loss** (mean squared
plus absolute error) asks for the same colours in the same places: alone, it settles for a smooth average. A
**feature loss** compares the two pictures as a frozen ImageNet network (EfficientNet-Lite0, its first three
stages: edges, textures, parts) sees them, which keeps edges where the photo has them. A **prior** keeps the
input where the generator was trained: ‖*z*‖² near 128 for the DCGAN (off that shell it draws artefacts), and for
W+ the layers' *w*'s near one another (a W+ far from W draws well but edits and walks badly).

**Why it never looks quite like you.** A 64x64 generator trained on 13,722 celebrity faces can draw only what it
learned, and many faces, glasses, hats or backgrounds are simply outside its range; what you get is the nearest
face *it* can draw. The measured figures for both models are in the README (held-out CelebA photos: the
projection against the best of 1,000 random seeds). Beyond optimisation, **encoders** (pSp, e4e) are networks
trained to map a photo to *w* in one forward pass, milliseconds instead of hundreds of steps, with e4e keeping *w*
where the generator is still good to edit.
"""


def framing_example(pipe, seed: int = 8) -> Image.Image:
    """A face the model draws (never a dataset picture), at 3x, with the eye and mouth lines of the framing."""
    face = pipe(seeds=[seed], truncation=0.6).images[0].resize((SHOWN, SHOWN), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(face)
    for y in (EYES, MOUTH):
        yy = round(y * SHOWN)
        for x in range(0, SHOWN, 8):  # a dashed line
            draw.line([(x, yy), (x + 4, yy)], fill=(255, 255, 255), width=1)
    return face


def editor_photo(editor):
    """The picture in the crop editor's payload (the cropped composite, else the background), or what an API caller
    sent: a path or a PIL image."""
    if isinstance(editor, dict):
        editor = editor.get("composite") if editor.get("composite") is not None else editor.get("background")
    return editor


def side_by_side(photo: Image.Image, face: Image.Image) -> Image.Image:
    """The photo as the model saw it and the face it drew, each at 3x, with a gap."""
    out = Image.new("RGB", (2 * SHOWN + 8, SHOWN), (255, 255, 255))
    out.paste(photo.resize((SHOWN, SHOWN), Image.Resampling.LANCZOS), (0, 0))
    out.paste(face.resize((SHOWN, SHOWN), Image.Resampling.LANCZOS), (SHOWN + 8, 0))
    return out


def make_projection_fns(models: Models, save_walk_gif):
    def pipeline(model):
        return models.get(model_demo(model)).pipeline

    def project(editor, num_steps, start_seed, model=DEFAULT_MODEL, progress=gr.Progress()):
        """Project a photo into a faces generator: the closest face it can draw.

        ``editor``: the crop editor's payload (or a file path); ``num_steps``: Adam steps (0-1000);
        ``start_seed``: seeds the random starting latents (same seed, same result); ``model``: "style" (the
        default: one w per layer, W+) or "dcgan" (z). Yields while it runs; the final answer is (photo | closest
        face, the optimisation's frames, note, latent .safetensors, latent). ``progress`` is Gradio's (not an API
        parameter).
        """
        import torch

        from gan_models.core.pipelines import to_output
        from gan_models.faces.projection import ProjectionOutput, save_latent
        from gan_models.feature_networks import FeatureNetworkError

        try:  # the numbers first: a request with NaN steps and no photo is told about the steps
            num_steps = check_int(num_steps, "steps", 0, MAX_STEPS)
            start_seed = check_seed(start_seed, "start seed")
        except InputError as err:
            raise user_error(err) from err
        demo = model_demo(model)
        source = editor_photo(editor)
        if source is None:
            raise gr.Error("Upload, paste or take a photo first, and crop it to the face.", print_exception=False)
        pipe = pipeline(model)
        try:
            steps = pipe.project_steps(source, num_steps, generator=torch.Generator().manual_seed(start_seed))
        except InputError as err:
            raise user_error(err) from err
        progress(0, desc="Searching random faces for a start")
        t0 = time.perf_counter()
        shown = []  # (file, caption) of the frames so far: files of our own (see as_files)
        try:
            for item in steps:
                if isinstance(item, ProjectionOutput):
                    break
                step, loss, image = item
                progress(step / max(num_steps, 1), desc=f"Step {step}/{num_steps}, loss {loss:.3f}")
                if image is not None:
                    shown.append((as_files([to_output(image, "pil")[0].resize((128, 128))])[0], f"step {step}"))
                    yield gr.skip(), list(shown), f"Step {step} of {num_steps}: loss {loss:.3f}", gr.skip(), gr.skip()
        except FeatureNetworkError as err:  # the feature loss's network is not installed
            raise gr.Error(f"The projection cannot run here: {err}", print_exception=False) from err
        out = item
        seconds = time.perf_counter() - t0
        frame_files = as_files([im.resize((128, 128)) for _, im in out.frames])
        captions = [f"step {s}" if s else "start" for s, _ in out.frames]
        path = output_path(".safetensors")
        save_latent(path, out.latent, {"steps": str(num_steps), "start_seed": str(start_seed), "model": demo.name,
                                       "psnr_db": f"{out.psnr:.2f}", "weights": models.get(demo).origin})
        if out.losses:
            note = (f"PSNR {out.psnr:.1f} dB against your photo at 64x64 after {num_steps} steps in {seconds:.1f} s "
                    f"(loss {out.losses[0]:.3f} → {out.losses[-1]:.3f}).")
        else:
            note = f"PSNR {out.psnr:.1f} dB: the best of the random starts, no steps taken."
        if out.messages:
            note += " Note: " + "; ".join(out.messages) + "."
        yield (as_files([side_by_side(out.target, out.images[0])])[0], list(zip(frame_files, captions)), note,
               str(path), out.latent)

    def load(path, model=DEFAULT_MODEL):
        """A latent file downloaded from this page -> (latent, its face beside nothing, note). Checked: size, format,
        one tensor named "latent", shape (the chosen model's), dtype, finite values."""
        from gan_models.faces.projection import load_latent

        if path is None:
            return gr.skip(), gr.skip(), gr.skip()
        pipe = pipeline(model)
        try:
            tensor, meta = load_latent(path)
            latent = pipe.check_latent(tensor)
        except InputError as err:
            raise gr.Error(f"The latent file is refused: {err}.", print_exception=False) from err
        from gan_models.core.pipelines import to_output

        face = to_output(pipe.generate(latent), "pil")[0].resize((SHOWN, SHOWN), Image.Resampling.LANCZOS)
        psnr = f", PSNR {meta['psnr_db']} dB when it was made" if "psnr_db" in meta else ""
        return latent, as_files([face])[0], f"Loaded a latent ({pipe.describe_latent(latent)}{psnr})."

    def walk(latent, seed_b, num_frames, truncation, model=DEFAULT_MODEL, progress=gr.Progress(track_tqdm=True)):
        """A GIF from the projected (or loaded) latent to seed_b's face and back; returns (animation, file)."""
        if latent is None:
            raise gr.Error("Find the closest face to a photo first (or load a latent file).", print_exception=False)
        pipe = pipeline(model)
        try:
            seed_b = check_seed(seed_b, "to seed")
            num_frames = check_int(num_frames, "frames", 2, MAX_WALK_FRAMES)
            end = pipe.seed_latent(seed_b, float(truncation))
            progress(0, desc="Drawing the frames")
            out = pipe.interpolate_latents(pipe.check_latent(latent), end, num_frames)
        except InputError as err:
            raise user_error(err) from err
        path = save_walk_gif(out.images, progress)
        return path, path

    return project, load, walk


def projection_section(models: Models, truncation, model, save_walk_gif) -> None:
    """The section, inside the Faces tab; ``truncation`` is the tab's slider (for the walk's seed end), ``model`` its
    model choice (the photo goes into the chosen model)."""
    project, load, walk = make_projection_fns(models, save_walk_gif)
    with gr.Accordion("Bring your own face: project a photo into the generator", open=False):
        gr.Markdown(PROJECT_INTRO)
        with gr.Row():
            with gr.Column(scale=2):
                photo = guard_upload(gr.ImageEditor(
                    label="Your photo: crop it to the face", type="filepath", image_mode="RGB",
                    sources=["upload", "clipboard", "webcam"], transforms=["crop"], layers=False, format="png",
                    elem_id="faces-photo"),
                MAX_PHOTO_UPLOAD_PIXELS, PHOTO_LIMIT)
                # brush and eraser stay: with brush=False or eraser=False, Gradio 6.31's editor throws
                # "props_invalid_value" in the browser on every upload (seen in Chromium; layers=False is fine)
            with gr.Column(scale=1, min_width=200):
                example = gr.Image(label="The framing it knows (a face the model made; eyes and mouth lines)",
                                   type="filepath", interactive=False, format="png", elem_id="faces-framing")
                steps = gr.Slider(0, MAX_STEPS, value=DEFAULT_STEPS, step=10, label="Steps",
                                  info="more steps: closer, slower (200: about 10 s)")
                start_seed = gr.Number(value=0, label="Start seed", precision=0, minimum=0, maximum=MAX_SEED,
                                       info="seeds the random starts: same seed, same result")
                run = gr.Button("Find the closest face", variant="primary", elem_id="faces-project")
        with gr.Row():
            compared = gr.Image(label="Your photo as the model sees it (64x64) | the closest face it can draw",
                                type="filepath", interactive=False, format="png", elem_id="faces-projected")
            frames = gr.Gallery(label="The optimisation as it runs", columns=5, height="auto", format="png",
                                elem_id="faces-projection-frames")
        note = gr.Markdown(elem_id="faces-projection-note")
        latent = gr.State()
        with gr.Row():
            latent_file = gr.File(label="Download the latent (.safetensors)", elem_id="faces-latent-file")
            upload = gr.File(label="Or load a latent file (.safetensors, from this page)", file_types=[".safetensors"],
                             type="filepath", elem_id="faces-latent-upload")
            loaded = gr.Image(label="The loaded latent's face", type="filepath", interactive=False, format="png")
        with gr.Row():
            seed_b = gr.Number(value=1, label="Walk from here to seed", precision=0, minimum=0, maximum=MAX_SEED)
            walk_frames = gr.Slider(2, MAX_WALK_FRAMES, value=24, step=1, label="Walk frames")
            walk_button = gr.Button("Walk from here to seed N", elem_id="faces-walk-from-photo")
        with gr.Row():
            animation = gr.Image(label="From your face to the seed's", type="filepath", format="gif",
                                 elem_id="faces-photo-walk")
            gif_file = gr.File(label="Download the GIF")
        gr.Markdown(PROJECT_HOW)

    on_first_visit(lambda: as_files([framing_example(models.get(model_demo(DEFAULT_MODEL)).pipeline)])[0], None,
                   example)
    run.click(project, [photo, steps, start_seed, model], [compared, frames, note, latent_file, latent],
              api_name="faces_project", **LONG)
    upload.upload(load, [upload, model], [latent, loaded, note], api_name=False)
    walk_button.click(walk, [latent, seed_b, walk_frames, truncation, model], [animation, gif_file], api_name=False,
                      **LONG)
