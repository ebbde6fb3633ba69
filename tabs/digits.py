"""The Digits tab: a conditional GAN draws the digit you ask for, in as many styles as you like."""

from __future__ import annotations

import random

import gradio as gr
from PIL import Image

from gan_models.core.checks import MAX_SEED
from gan_models.core.checks import InputError, check_int
from gan_models.registry import DEMOS

from .common import Models, as_files, on_first_visit, user_error

MAX_PER_DIGIT = 32
MAX_STYLES = 16
DIGIT_CHOICES = ["all"] + [str(k) for k in range(10)]

DIGITS_HOW = """
### How it works
A **conditional GAN** (Mirza & Osindero 2014) is a GAN in which *both* players are told
the label. The generator gets random noise *z* **and** the digit you asked for; the
discriminator gets an image **and** a digit, and must say whether it is a real MNIST digit
*of that class*. So drawing a nice 3 when a 7 was asked for fails, and G learns to obey the label.

Here G receives the label as a learned embedding next to *z*, and again in every
normalisation layer (conditional BatchNorm: one scale and shift per digit). D uses a
**projection** (Miyato & Koyama 2018): its score is "how real" plus the inner product of a
per-digit vector with the image's features, "how much like *this* digit". Two small extra
terms keep the balance: a classification loss (AC-GAN, Odena et al. 2017) sharpens the
labels, and a mode-seeking term (Mao et al. 2019) stops G from drawing the same digit
whatever the noise, a classic failure of conditional GANs.

What you see: the label chooses *what* is drawn, the seed (the noise *z*) chooses *how*: slant,
thickness, loops. That is why **Same style, every digit** works: each row keeps one seed,
so one handwriting, and only the label changes along the row. **Truncation** ψ pulls *z*
towards the average: lower ψ, tidier and more typical digits, less variety.
"""


def grid_image(images: list[Image.Image], ncols: int, pad: int = 2, scale: int = 2) -> Image.Image:
    """PIL images (all the same size) -> one white-padded grid, ``ncols`` a row, upscaled ``scale`` x."""
    w, h = images[0].size
    w, h = w * scale, h * scale
    rows = -(-len(images) // ncols)
    grid = Image.new(images[0].mode, (ncols * (w + pad) + pad, rows * (h + pad) + pad), 255)
    for i, im in enumerate(images):
        r, c = divmod(i, ncols)
        grid.paste(im.resize((w, h), Image.Resampling.NEAREST), (pad + c * (w + pad), pad + r * (h + pad)))
    return grid


def make_digits_fns(models: Models):
    demo = DEMOS["digits"]

    def digits(digit, seed, count, truncation):
        """``count`` images of ``digit`` (0-9, or "all": every digit) from seeds seed, seed+1, ...

        Returns (gallery of (image, caption), seed used). Image i of every digit uses seed + i.
        """
        pipe = models.get(demo).pipeline
        try:
            count = check_int(count, "number of images per digit", 1, MAX_PER_DIGIT)
            if isinstance(digit, str) and digit.strip().lower() == "all":
                labels = list(range(pipe.num_classes))
            else:
                labels = pipe.check_labels(digit)
            out = pipe(labels, count, seed=seed, truncation=truncation)
        except InputError as err:
            raise user_error(err) from err
        gallery = [(path, f"{y} · seed {s}") for path, y, s in zip(as_files(out.images), out.labels, out.seeds)]
        return gallery, out.seeds[0]

    def same_style(seed, num_styles, truncation):
        """One grid image: rows = styles (seed, seed+1, ...), columns = digits 0-9."""
        pipe = models.get(demo).pipeline
        try:
            num_styles = check_int(num_styles, "number of styles", 1, MAX_STYLES)
            out = pipe.same_style(num_styles, seed=seed, truncation=truncation)
        except InputError as err:
            raise user_error(err) from err
        return as_files([grid_image(out.images, pipe.num_classes)])[0]

    return digits, same_style


def digits_tab(models: Models):
    digits, same_style = make_digits_fns(models)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            digit = gr.Dropdown(DIGIT_CHOICES, value="7", label="Digit", info="or 'all' for every digit")
            count = gr.Slider(1, MAX_PER_DIGIT, value=8, step=1, label="Images per digit")
            seed = gr.Number(value=0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED,
                             info="image i of each digit uses seed + i")
            randomize = gr.Button("Random seed", size="sm")
            truncation = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Truncation ψ",
                                   info="1 = full variety; lower = tidier, more typical digits")
            run = gr.Button("Generate", variant="primary")
            used = gr.Number(label="Seed used (type it back to get the same digits)", precision=0,
                             interactive=False)
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Digits", columns=8, height="auto", object_fit="contain",
                                 buttons=["download", "download_all", "fullscreen"], format="png",
                                 elem_id="digits-gallery")
    with gr.Accordion("Same style, every digit", open=False):
        with gr.Row():
            styles = gr.Slider(1, MAX_STYLES, value=6, step=1, label="Styles (rows)")
            show = gr.Button("Draw every digit in each style")
        style_grid = gr.Image(label="Rows: one seed each (seed, seed+1, ...). Columns: digits 0-9.",
                              type="pil", format="png", elem_id="digits-style-grid")
    gr.Markdown(DIGITS_HOW)
    weights_note = gr.Markdown()

    run.click(digits, [digit, seed, count, truncation], [gallery, used], api_name="digits")
    on_first_visit(digits, [digit, seed, count, truncation], [gallery, used])  # the defaults' gallery, unasked
    randomize.click(lambda: random.randint(0, MAX_SEED), None, seed, api_name=False).then(
        digits, [digit, seed, count, truncation], [gallery, used], api_name=False)
    show.click(same_style, [seed, styles, truncation], style_grid, api_name="digits_same_style")
    return weights_note
