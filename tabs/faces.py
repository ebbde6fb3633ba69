"""The Faces tab: two face models side by side (a style-based generator, the default, and the DCGAN), faces from seeds,
truncation, latent interpolation; the style-based model's mixing and editing sections (faces_style.py) and the
projection of a photo (faces_projection.py)."""

from __future__ import annotations

import random
import shutil

import gradio as gr
from PIL import Image

from gan_models.core.checks import MAX_SEED
from gan_models.core.checks import InputError, check_int
from gan_models.registry import DEMOS

from .superres import send_to_superres_button
from .common import Models, as_files, on_first_visit, output_path, user_error
from .faces_projection import projection_section
from .faces_style import editing_section, mixing_section
from .face_models import DEFAULT_MODEL, MODEL_LABELS, model_demo
from .first_faces import DEFAULTS, EarlyFaces
from .queue_limits import LONG

MAX_FACES = 64
WHAT_CHANGED = """
**What changed between 2016 and 2019.** The DCGAN feeds its 128 random numbers in once, at the bottom, and every
layer has to untangle them. The style-based generator first maps them through a small network to a vector *w*,
starts from a *learned constant* picture, and gives every layer its own copy of *w* as a **style** that scales its
convolution weights; per-pixel **noise** draws the random detail (hair, skin), so *w* need not. That split is what
lets you mix two faces' styles by layer, pull *w* toward the average face, and move along directions that change one
thing at a time. This one was trained against a **projected discriminator** that judges faces through a frozen
ImageNet network's eyes: 17,000 steps on this CPU. Measured, it beats the DCGAN in Inception's feature space (FID
29 against 58) and in a face-recognition network's (0.035 against 0.044): its faces hold together better, but like
the DCGAN it draws too few of the rarer kinds of people in the data and too many of a few kinds of young woman (mode
collapse in its mild, common form); the README has the scores and how.
"""

FACES_HOW = """
### How it works
Both models are two networks playing a game. The *generator* turns random numbers (the latent vector *z*, drawn
from a normal distribution) into a 64x64 picture; the *discriminator* looks at a picture and says real or fake.
They train in turns: D learns to tell CelebA faces from G's output; G learns to make D say "real". Nothing tells
G what a face is: it learns only from D's verdicts.

**The DCGAN** (Radford et al. 2016): 128 numbers, projected to a 4x4 map and doubled in size four times by
transposed convolutions; D mirrors it. Trained with DiffAugment (D only ever sees colour-jittered, shifted
pictures, real and fake alike, so it cannot memorise the 14k training faces) and an exponential moving average
of G's weights, which is what you see.

**The style-based generator** (StyleGAN2's design, Karras et al. 2020, in this project's own code): a
*mapping network* (4 layers) turns *z* (256 numbers) into *w*; the *synthesis network* starts from a learned
constant 4x4 picture, and each of its 10 layers reads *w* as a style that scales its convolution's input
channels (**modulation**), then rescales each output channel to unit size (**demodulation**); **noise** added
at every layer draws hair and skin detail; each resolution adds its RGB picture to the upsampled one below.
Its discriminator is **projected** (Sauer et al. 2021): small heads reading a frozen ImageNet network's
(EfficientNet-Lite0's) feature maps of the faces, with DiffAugment and the hinge loss.

What you see: every face here is made from one seed. The seed fixes *z*, so the same seed always gives the
same face. **Truncation** ψ pulls toward the average: the DCGAN shrinks *z*, the style-based model pulls *w*
toward the mean *w* (truncation in W, as StyleGAN does): lower ψ gives cleaner, more typical faces with less
variety. **Interpolation** walks from one seed's face to another's (the DCGAN along an arc in *z*, the
style-based model in a straight line in W): smooth changes show that G learned a continuous space of faces,
not a lookup table. The README has both models' scores.
"""


def make_faces_fns(models: Models):
    def faces(seed, num_images, truncation, model=DEFAULT_MODEL):
        """Generate ``num_images`` faces from seeds seed, seed+1, ...; returns (gallery, seed used).

        ``model``: "style" (the style-based generator, the default) or "dcgan"; the same seed, either model.
        """
        pipe = models.get(model_demo(model)).pipeline
        try:
            num_images = check_int(num_images, "number of faces", 1, MAX_FACES)
            out = pipe(num_images, seed=seed, truncation=truncation)
        except InputError as err:
            raise user_error(err) from err
        return gallery_of(as_files(out.images), out.seeds)

    def interpolate(seed_a, seed_b, num_frames, truncation, model=DEFAULT_MODEL,
                    progress=gr.Progress(track_tqdm=True)):
        """A GIF walking from seed_a's face to seed_b's and back; returns (animation, file).

        ``model`` as for /faces (the style-based model walks a straight line in W, the DCGAN an arc in z).
        ``progress`` is Gradio's (not an API parameter): the pipeline's own progress bar over the frames'
        batches (tqdm, tracked), then one step per GIF frame (its palette, most of the time taken).
        """
        pipe = models.get(model_demo(model)).pipeline
        try:
            progress(0, desc="Drawing the frames")
            out = pipe.interpolate(seed_a, seed_b, num_frames, truncation=truncation)
        except InputError as err:
            raise user_error(err) from err
        path = save_walk_gif(out.images, progress)
        return path, path

    return faces, interpolate


def gallery_of(paths: list[str], seeds: list[int]):
    """/faces' answer: the gallery (each face captioned with its seed) and the first seed."""
    return [(path, f"seed {s}") for path, s in zip(paths, seeds)], seeds[0]


def early_gallery(early: EarlyFaces | None):
    """The first visit's gallery as a child process drew it while the server started (tabs/first_faces.py), its
    files moved to our outputs; None if there is none (then the tab draws it)."""
    taken = early.take() if early is not None else None
    if taken is None:
        return None
    files, seeds = taken
    paths = []
    for file in files:
        paths.append(str(output_path(".png", prune=not paths)))
        shutil.move(file, paths[-1])
    return gallery_of(paths, seeds)


def save_walk_gif(images, progress) -> str:
    """A walk's frames as a looping GIF (there and back) of our own; returns its path. ``progress``: Gradio's."""
    frames = [im.resize((128, 128)) for im in images]
    frames = frames + frames[-2:0:-1]  # there and back, so the loop is seamless
    # what GIF saving does to each RGB frame, done here one frame at a time so the bar can follow it
    frames = [im.convert("P", palette=Image.Palette.ADAPTIVE)
              for im in progress.tqdm(frames, desc="Encoding the GIF", unit="frames")]
    path = output_path(".gif")
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    return str(path)


def faces_tab(models: Models, early: EarlyFaces | None = None):
    """``early``: the first gallery's child process, started by app.py (tabs/first_faces.py), or None."""
    faces, interpolate = make_faces_fns(models)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            model = gr.Radio(MODEL_LABELS, value=DEFAULTS.model, label="Model", elem_id="faces-model",
                             info="the same seed in either model")
            seed = gr.Number(value=DEFAULTS.seed, label="Seed", precision=0, minimum=0, maximum=MAX_SEED,
                             info="the first face's seed; face i uses seed + i")
            randomize = gr.Button("Random seed", size="sm")
            count = gr.Slider(1, MAX_FACES, value=DEFAULTS.count, step=1, label="Number of faces")
            truncation = gr.Slider(0.0, 1.0, value=DEFAULTS.truncation, step=0.05, label="Truncation ψ",
                                   info="1 = full variety; lower = more typical faces")
            run = gr.Button("Generate", variant="primary")
            used = gr.Number(value=0, label="Seed used (type it back to get the same faces)", precision=0,
                             interactive=False)
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Faces", columns=8, height="auto", object_fit="contain",
                                 buttons=["download", "download_all", "fullscreen"], format="png",
                                 elem_id="faces-gallery")
            send, selected = send_to_superres_button(gallery, "face")
            gr.Markdown(WHAT_CHANGED)
    with gr.Accordion("Interpolate between two seeds", open=False):
        with gr.Row():
            seed_a = gr.Number(value=0, label="From seed", precision=0, minimum=0, maximum=MAX_SEED)
            seed_b = gr.Number(value=1, label="To seed", precision=0, minimum=0, maximum=MAX_SEED)
            frames = gr.Slider(2, 60, value=24, step=1, label="Frames")
            walk = gr.Button("Animate")
        with gr.Row():
            animation = gr.Image(label="Walk in latent space", type="filepath", format="gif", elem_id="faces-walk")
            gif_file = gr.File(label="Download the GIF")
    mixing_section(models, truncation)
    editing_section(models, truncation)
    projection_section(models, truncation, model, save_walk_gif)
    gr.Markdown(FACES_HOW)
    weights_note = gr.Markdown()

    run.click(faces, [seed, count, truncation, model], [gallery, used], api_name="faces")
    on_first_visit(faces, [seed, count, truncation, model], [gallery, used],  # the defaults' gallery, once per process
                   early=lambda: early_gallery(early))
    model.change(faces, [seed, count, truncation, model], [gallery, used], api_name=False)  # same seeds, other model
    randomize.click(lambda: random.randint(0, MAX_SEED), None, seed, api_name=False).then(
        faces, [seed, count, truncation, model], [gallery, used], api_name=False)
    walk.click(interpolate, [seed_a, seed_b, frames, truncation, model], [animation, gif_file],
               api_name="faces_interpolate", **LONG)
    return weights_note, (gallery, send, selected)  # app.py wires the send button
