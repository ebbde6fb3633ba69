"""The Birds tab: type a description, get birds that follow it; swap the colour word to see the text at work."""

from __future__ import annotations

import random

import gradio as gr
from PIL import Image, ImageDraw

from gan_models.birds.prompts import EXAMPLE_PROMPTS
from gan_models.birds.colour_words import SWAP_WORDS
from gan_models.core.checks import MAX_SEED
from gan_models.core.checks import WeightsError
from gan_models.core.checks import InputError, check_int
from gan_models.registry import DEMOS

from .superres import send_to_superres_button
from .common import Models, as_files, on_first_visit, user_error

MAX_BIRDS = 32
MAX_ROWS = 6

BIRDS_HOW = """
### How it works
Your sentence is first turned into numbers by a **frozen text encoder** (all-MiniLM-L6-v2, a
small BERT trained so that sentences with similar meanings get nearby 384-d vectors). The GAN
never sees your words, only that vector.

The **generator** gets the vector and random noise. Following **StackGAN** (Zhang et al. 2017)
it first turns the vector into a small Gaussian and samples a *condition* from it
(*conditioning augmentation*): the dataset has only 10 captions per photo, and this smears them
into a smooth space, so a sentence it never saw still lands somewhere sensible. Then, following
**DF-GAN** (Tao et al. 2022), every block of the generator scales and shifts each feature map
by amounts predicted from the condition (*affine conditioning*), so the text steers the picture
at every size, from the 4x4 layout to the 64x64 colours.

The **discriminator** judges *pairs*: an image together with a sentence. The trick that makes
the text matter is Reed et al. 2016's **matching-aware** discriminator (GAN-CLS): besides
"real photo + its caption" (real) and "generated bird + its caption" (fake), it is shown a
*real photo with another bird's caption* and taught to call that fake too. So looking real is
not enough: the image must fit the sentence, and the generator learns to follow it.

This discriminator does not look at pixels: it is **projected** (Projected GAN, Sauer et al.
2021). A frozen network trained on ImageNet (EfficientNet-Lite0) turns each picture into feature
maps at four scales, fixed random projections mix their channels, and small heads, one per
scale, say real or fake and check the sentence. Features that already know edges, fur,
feathers and beaks tell a bird from a blob from the first step, so the generator gets useful
gradients at once: on this CPU, 4,000-5,000 steps against it drew birds, where 11,625 steps against
a discriminator that had to learn its own features from 7.7k photos drew coloured shapes.

Later models drew much better birds: **StackGAN** refined a 64x64 sketch into 256x256 in a
second GAN; **AttnGAN** (Xu et al. 2018) added attention from image regions to single *words*
(the beak to "orange") and a loss (DAMSM) that checks word-region matches; **DF-GAN**
dropped the stacked stages for one deep generator with affine fusion and a matching-aware
gradient penalty (we use its blocks). This tab is one 64x64 stage trained on a CPU: expect the
colours and the overall bird right more often than the details.

**Vary one word** keeps the noise fixed (one row per seed) and swaps only the colour word in
your sentence: whatever changes along a row is the text's doing. The 150 species it was trained
on are CUB-200's training split (minus 20 held out to measure it); descriptions of other birds
are the real test.
"""


def word_grid(images: list[Image.Image], words: list[str], scale: int = 2, pad: int = 2) -> Image.Image:
    """Rows of images under a header naming each column: ``len(images)`` must be a multiple of ``len(words)``."""
    w, h = images[0].size
    w, h = w * scale, h * scale
    cols, rows = len(words), len(images) // len(words)
    header = 16
    grid = Image.new("RGB", (cols * (w + pad) + pad, header + rows * (h + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for c, word in enumerate(words):
        x = pad + c * (w + pad) + w // 2
        draw.text((x, header // 2 + 1), word[:18], fill=(0, 0, 0), anchor="mm")
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid.paste(im.resize((w, h), Image.Resampling.NEAREST), (pad + c * (w + pad), header + pad + r * (h + pad)))
    return grid


def notes_markdown(messages: list[str]) -> str:
    return "\n".join(f"Note: {m}" for m in messages)


def make_birds_fns(models: Models):
    demo = DEMOS["birds"]

    def birds(prompt, seed, count, truncation):
        """``count`` birds for ``prompt`` from seeds seed, seed+1, ...: (gallery, seed used, notes)."""
        pipe = models.get(demo).pipeline
        try:
            count = check_int(count, "number of birds", 1, MAX_BIRDS)
            out = pipe(prompt, count, seed=seed, truncation=truncation)
        except InputError as err:
            raise user_error(err) from err
        except WeightsError as err:
            raise gr.Error(f"The birds model's text encoder cannot be loaded: {err}") from err
        gallery = [(path, f"seed {s}") for path, s in zip(as_files(out.images), out.seeds)]
        return gallery, out.seeds[0], notes_markdown(out.messages)

    def vary_word(prompt, seed, num_rows, truncation, progress=gr.Progress()):
        """One grid image: rows = seeds (seed, seed+1, ...), columns = the colour word swapped; and notes.

        ``progress`` is Gradio's (not an API parameter): the two stages, drawing and laying out.
        """
        pipe = models.get(demo).pipeline
        try:
            num_rows = check_int(num_rows, "number of rows", 1, MAX_ROWS)
            progress(0, desc=f"Drawing {num_rows} x {len(SWAP_WORDS)} birds")
            out = pipe.vary_word(prompt, SWAP_WORDS, num_seeds=num_rows, seed=seed, truncation=truncation)
        except InputError as err:
            raise user_error(err) from err
        except WeightsError as err:
            raise gr.Error(f"The birds model's text encoder cannot be loaded: {err}") from err
        progress(0.9, desc="Laying out the grid")
        grid = word_grid(out.images, list(SWAP_WORDS))
        notes = [f"Columns: *{out.labels[0]}*, then the same sentence with "
                 + ", ".join(f"**{w}**" for w in SWAP_WORDS[1:]) + ". Each row keeps one seed."]
        return as_files([grid])[0], notes_markdown(out.messages) + ("\n\n" if out.messages else "") + notes[0]

    return birds, vary_word


# Said plainly: what the embedded weights can and cannot do (measured: docs/birds.md).
EMBEDDED_STATUS = ("**CPU-trained weights, and they draw birds.** 5,000 steps against a discriminator that reads a "
                   "frozen ImageNet network's features (about 3.3 h on one CPU thread). On 20 species the model never "
                   "saw, most pictures have a body, a head, a beak or tail and a perch, in the colours the text asks "
                   "for (colour judged right 60% of the time, as often as for real photos). They are 64x64 and often "
                   "smeared in the details (legs, eyes, wing bars); shapes the text describes beyond colour (a long "
                   "bill, a crest) are followed only loosely.")


def birds_tab(models: Models):
    birds, vary_word = make_birds_fns(models)
    gr.Markdown(EMBEDDED_STATUS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            prompt = gr.Textbox(value=EXAMPLE_PROMPTS[0], label="Describe a bird", lines=2,
                                info="English, like a field guide: colours, size, beak, wings")
            count = gr.Slider(1, MAX_BIRDS, value=8, step=1, label="Number of birds")
            seed = gr.Number(value=0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED,
                             info="bird i uses seed + i")
            randomize = gr.Button("Random seed", size="sm")
            truncation = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Truncation ψ",
                                   info="1 = full variety; lower = more typical birds")
            run = gr.Button("Generate", variant="primary")
            used = gr.Number(label="Seed used (type it back to get the same birds)", precision=0, interactive=False)
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Birds", columns=8, height="auto", object_fit="contain",
                                 buttons=["download", "download_all", "fullscreen"], format="png",
                                 elem_id="birds-gallery")
            send, selected = send_to_superres_button(gallery, "bird")
            notes = gr.Markdown()
            gr.Examples([[p] for p in EXAMPLE_PROMPTS], inputs=[prompt], label="Example prompts (ours)")
    with gr.Accordion("Vary one word: same noise, the colour word swapped", open=False):
        with gr.Row():
            rows = gr.Slider(1, MAX_ROWS, value=3, step=1, label="Rows (seeds)")
            swap = gr.Button("Swap the colour word")
        swap_grid = gr.Image(label="Columns: the colour word set to each colour. Rows: one seed each.",
                             show_label=False, type="filepath", format="png",  # the label would hide the header
                             elem_id="birds-swap-grid")
        swap_notes = gr.Markdown()
    gr.Markdown(BIRDS_HOW)
    weights_note = gr.Markdown()

    run.click(birds, [prompt, seed, count, truncation], [gallery, used, notes], api_name="birds")
    on_first_visit(birds, [prompt, seed, count, truncation], [gallery, used, notes])  # the example prompt's birds
    prompt.submit(birds, [prompt, seed, count, truncation], [gallery, used, notes], api_name=False)
    randomize.click(lambda: random.randint(0, MAX_SEED), None, seed, api_name=False).then(
        birds, [prompt, seed, count, truncation], [gallery, used, notes], api_name=False)
    swap.click(vary_word, [prompt, seed, rows, truncation], [swap_grid, swap_notes], api_name="birds_vary_word")
    return weights_note, (gallery, send, selected)  # app.py wires the send button
