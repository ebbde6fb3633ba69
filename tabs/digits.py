"""The Digits tab: a conditional GAN draws the digit you ask for, in as many styles as you like."""

from __future__ import annotations

import random
import threading
from contextlib import contextmanager
from typing import Sequence

import gradio as gr
from PIL import Image

from gan_models.core.checks import MAX_SEED
from gan_models.core.checks import InputError, check_int
from gan_models.dataset_errors import DatasetUnavailable
from gan_models.judges.gan_train_settings import (ARMS, DEFAULT_GAN, DEFAULT_REAL, DEFAULT_STEPS, HUB_MNIST,
                                                  LIVE_TEST_DIGITS, LOCAL_MNIST, MAX_GAN, MAX_STEPS, MIN_GAN,
                                                  MIN_STEPS, REAL_CHOICES, cgan_holdout, check_live_settings)
from gan_models.registry import DEMOS

from .common import Models, as_files, on_first_visit, user_error
from .queue_limits import LONG

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


GAN_TRAIN_HOW = f"""
Can the cGAN's digits stand in for real ones? Three copies of one small CNN are trained here, live,
for the same number of steps from the same start: on a few **real** digits per class (drawn from the
rows the cGAN trained on), on the same **plus cGAN digits**, and on **cGAN digits only**. Each is
then tested on {LIVE_TEST_DIGITS:,} real digits the cGAN never saw (the rows its training held out).

*Trained on generated, tested on real* is the **GAN-train** score (Shmelkov et al. 2018, "How good
is my GAN?"): high only if the digits are right for their label *and* as varied as real handwriting
(a cGAN that draws one perfect 7 per class trains a poor classifier), which FID alone does not
separate. The README has the same comparison over 5 seeds, on all 10,000 held-out digits.
"""


class OneRunPerSession:
    """At most one live run per browser session: a second press while one runs is refused with a message."""

    def __init__(self):
        self._live: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def run(self, session_hash: str | None):
        if session_hash is None:  # a direct call (tests, scripts): no session to guard
            yield
            return
        with self._lock:
            if session_hash in self._live:
                raise gr.Error("A training run of yours is still going: wait for its result before starting "
                               "another.", print_exception=False)
            self._live.add(session_hash)
        try:
            yield
        finally:
            with self._lock:
                self._live.discard(session_hash)


def make_gan_train_fn(models: Models, datasets: Sequence[str]):
    """The 'Do GAN digits train a classifier?' action, reading real digits from the first of ``datasets`` (local
    folders or Hub dataset ids) that loads.

    The run (gan_models/judges/gan_train.py) trains with torch, so it is imported by the first run, not while the
    page is built; so is the DigitsSource that reads ``datasets``, then kept for every later run.
    """
    demo = DEMOS["digits"]
    runs = OneRunPerSession()
    made, made_lock = [], threading.Lock()

    def digits_source():
        from gan_models.judges.gan_train import DigitsSource

        with made_lock:  # two first runs at once share one source (one dataset read, one record of failures)
            if not made:
                made.append(DigitsSource(datasets))
            return made[0]

    def gan_train(real_per_class, gan_per_class, steps, seed, request: gr.Request = None, progress=gr.Progress()):
        """Three classifiers (real only, real + cGAN, cGAN only) trained ``steps`` steps each and tested on held-out
        real digits. Returns (the three accuracies in %: one row, a column per classifier; the learning curves as a
        table of step, accuracy (%) and what it was trained on; a note saying what was done).

        ``request`` and ``progress`` are Gradio's, not API parameters.
        """
        import pandas as pd

        from gan_models.judges.gan_train import compare

        try:
            real_per_class, gan_per_class, steps, seed = check_live_settings(real_per_class, gan_per_class, steps,
                                                                             seed)
        except InputError as err:
            raise user_error(err) from err
        say = (lambda fraction, message: progress(fraction, desc=message)) if progress is not None else None
        with runs.run(getattr(request, "session_hash", None)):
            pipe = models.get(demo).pipeline
            holdout, holdout_seed, _ = cgan_holdout(getattr(pipe, "name_or_path", None))
            try:
                digits = digits_source().get(holdout, holdout_seed, progress=say)
            except DatasetUnavailable as err:
                raise user_error(err) from err
            except ValueError as err:  # a dataset that loads but is not the cGAN's (too few rows, other labels)
                raise gr.Error(f"The real digits cannot be used: {err}", print_exception=False) from err
            try:
                result = compare(digits, pipe, real_per_class, gan_per_class, steps, seed, progress=say)
            except InputError as err:
                raise user_error(err) from err
        curves = pd.DataFrame([{"step": step, "accuracy (%)": round(acc * 100, 2), "trained on": title}
                               for arm, title in ARMS.items() for step, acc in result[arm]["curve"]])
        seconds = sum(result[arm]["seconds"] for arm in ARMS)
        note = (f"Tested on {result['num_test']:,} real digits the cGAN never saw (of the {holdout:,} rows its "
                f"training held out, seed {holdout_seed}; data: `{digits.name}`). Each classifier: {steps} steps "
                f"of 64, on {10 * real_per_class} real digits; the same + {10 * gan_per_class:,} cGAN digits; "
                f"{10 * gan_per_class:,} cGAN digits only (seed {seed}). Training took {seconds:.1f} s.")
        accuracies = pd.DataFrame([[round(result[arm]["accuracy"] * 100, 2) for arm in ARMS]],
                                  columns=list(ARMS.values()))
        return accuracies, curves, note

    return gan_train


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


def digits_tab(models: Models, mnist: str | None = None):
    """``mnist``: where the classifier section reads real digits (a folder or Hub id); by default the local copy
    at ../shared/data/mnist if there, else ylecun/mnist from the Hub."""
    digits, same_style = make_digits_fns(models)
    gan_train = make_gan_train_fn(models, [mnist] if mnist else [LOCAL_MNIST, HUB_MNIST])
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
    with gr.Accordion("Do GAN digits train a classifier?", open=False, elem_id="digits-gan-train"):
        gr.Markdown(GAN_TRAIN_HOW)
        with gr.Row():
            real_count = gr.Radio(list(REAL_CHOICES), value=DEFAULT_REAL, label="Real digits per class",
                                  elem_id="digits-gan-real")
            gan_count = gr.Slider(MIN_GAN, MAX_GAN, value=DEFAULT_GAN, step=10, label="cGAN digits per class")
            train_steps = gr.Slider(MIN_STEPS, MAX_STEPS, value=DEFAULT_STEPS, step=50,
                                    label="Training steps (each classifier)")
            run_seed = gr.Number(value=0, label="Run seed", precision=0, minimum=0, maximum=MAX_SEED,
                                 info="draws the real digits, the cGAN digits and the classifiers' start")
        train = gr.Button("Train the three classifiers", variant="primary")
        accuracies = gr.Dataframe(headers=list(ARMS.values()), datatype="number", interactive=False,
                                  label="Accuracy on held-out real digits (%)", elem_id="digits-gan-accuracies")
        curves = gr.LinePlot(x="step", y="accuracy (%)", color="trained on", y_lim=[0, 100],
                             label="Learning curves: accuracy on held-out real digits", elem_id="digits-gan-curves")
        train_note = gr.Markdown(elem_id="digits-gan-note")
    gr.Markdown(DIGITS_HOW)
    weights_note = gr.Markdown()

    run.click(digits, [digit, seed, count, truncation], [gallery, used], api_name="digits")
    on_first_visit(digits, [digit, seed, count, truncation], [gallery, used])  # the defaults' gallery, unasked
    randomize.click(lambda: random.randint(0, MAX_SEED), None, seed, api_name=False).then(
        digits, [digit, seed, count, truncation], [gallery, used], api_name=False)
    show.click(same_style, [seed, styles, truncation], style_grid, api_name="digits_same_style")
    train.click(gan_train, [real_count, gan_count, train_steps, run_seed], [accuracies, curves, train_note],
                api_name="digits_gan_train", **LONG)  # seconds of CPU: one of the long requests
    return weights_note
