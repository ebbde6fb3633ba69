"""Measure the text-to-image birds on species they never saw: ``python -m gan_models.evaluate birds``.

    python training/train_bird_colour_classifier.py --output_dir runs/bird_colour_classifier   # the judge, once
    python -m gan_models.evaluate birds --weights runs/birds/generator --out results/birds     # ~13 min on one busy CPU thread
    python -m gan_models.evaluate birds --no_fid                                                # colour only, ~2 min

The held-out species are those training held out (``--holdout_classes`` 20 of the 150, from
``--holdout_seed``); their captions describe birds the generator never saw.

- **FID / KID** (standard Inception features) of ``--num_samples`` birds, each drawn from one
  caption of a held-out image, against the real crops of the held-out species (padded to 72,
  centre 64: what training's random crops look like on average).
- **Colour follows the text**: for each held-out image whose captions agree on a main body
  colour, one bird is drawn from a caption that says that colour; the colour judge
  (gan_models/judges/colour_classifier.py) names its colour. Compared with the judge's accuracy on
  the *real* photos of the same rows (the ceiling: the labels are noisy), with the same
  generated birds against shuffled labels (the floor: what ignoring the text scores), and
  with the colour words swapped ("a *blue* bird with *blue* wings" for a caption that said
  yellow): does the judge then see the new colour?
"""

from __future__ import annotations

import numpy as np
import torch

from ..birds.captions import holdout_classes, load_captioned
from ..birds.colour_words import COLOURS, body_colour_spans, main_colour
from ..core.pipelines import noise_for_seeds
from ..data import to_uint8
from .colour_classifier import accuracy, predict


@torch.inference_mode()
def draw(pipe, texts: list[str], seed_offset: int, truncation: float = 1.0, batch: int = 250) -> torch.Tensor:
    """One bird per text, text i from seed ``seed_offset + i``: uint8 N x 3 x H x W."""
    embeds, _ = pipe.encode_prompt(texts)
    noise = noise_for_seeds(range(seed_offset, seed_offset + len(texts)), (pipe.generator.noise_dim,), truncation)
    return torch.cat([to_uint8(pipe.generate(z, t)) for z, t in zip(noise.split(batch), embeds.split(batch))])


def heldout_grid(pipe, dataset: str, num: int = 64, num_holdout_classes: int = 20, holdout_seed: int = 0,
                 seed: int = 30_000_000, pad: int = 2):
    """``num`` birds, bird i from the first caption of the i-th of ``num`` held-out crops picked at random (species
    the model never saw), seed ``seed + i``: one PIL grid, 8 a row (the captions are the data's: not shown)."""
    from PIL import Image

    data = load_captioned(dataset, size=pipe.generator.image_size * 9 // 8, images=False)
    _, held_idx, _ = holdout_classes(data.labels, num_holdout_classes, holdout_seed)
    rows = np.random.default_rng(holdout_seed).choice(held_idx, num, replace=False)
    birds = draw(pipe, [data.captions[r][0] for r in rows], seed)
    n, _, h, w = birds.shape
    grid = Image.new("RGB", (8 * (w + pad) + pad, -(-n // 8) * (h + pad) + pad), "white")
    for i, bird in enumerate(birds):
        grid.paste(Image.fromarray(bird.permute(1, 2, 0).numpy()), (pad + (i % 8) * (w + pad), pad + (i // 8) * (h + pad)))
    return grid


def swap_colours(text: str, colour: str) -> str:
    """Every colour word said of the body replaced by ``colour``."""
    for start, end, _ in reversed(body_colour_spans(text)):
        text = text[:start] + colour + text[end:]
    return text


def centre(images: torch.Tensor, size: int = 64) -> torch.Tensor:
    off = (images.shape[-1] - size) // 2
    return images[..., off:off + size, off:off + size]


def evaluate_birds(pipe, classifier, dataset: str, num_samples: int = 1000, num_holdout_classes: int = 20,
                   holdout_seed: int = 0, truncation: float = 1.0, fid: bool = True, features=None,
                   pad: str = "pad-blur", species=None) -> dict:
    from pathlib import Path

    size = pipe.generator.image_size
    data = load_captioned(dataset, size=size * 9 // 8, how=pad)
    _, held_idx, held = holdout_classes(data.labels, num_holdout_classes, holdout_seed)
    result = {"demo": "birds", "dataset": dataset, "heldout_species": len(held), "heldout_rows": len(held_idx),
              "real_padding": pad}
    key = (f"{Path(dataset).name}-heldout{num_holdout_classes}species-seed{holdout_seed}-{pad}{size * 9 // 8}"
           f"-centre{size}")
    return {**result, **score_birds(pipe, classifier, data.images[held_idx], [data.captions[r] for r in held_idx],
                                    num_samples, seed=holdout_seed, truncation=truncation, fid=fid, features=features,
                                    real_key=key, species=species)}


def score_birds(pipe, classifier, real: torch.Tensor, captions: list[list[str]], num_samples: int, *, seed: int = 0,
                truncation: float = 1.0, fid: bool = True, features=None, real_key: str | None = None,
                real_features=None, colour_rows: int | None = None, species=None) -> dict:
    """Colour-follows-text and FID/KID scores of ``pipe`` on held-out rows (uint8 crops N x 3 x L x L, captions).

    ``colour_rows`` caps the rows of the colour test (default all); ``real_key`` names the real
    features' disk cache, or ``real_features`` gives them (default: computed); ``species`` (a
    SpeciesClassifier) adds ``species_fd`` and its real-vs-real floor. training/train_text2img.py calls
    this every --eval_steps.
    """
    size = pipe.generator.image_size
    real = centre(real, size)
    rng = np.random.default_rng(seed)
    result = {"truncation": truncation}

    # ---- colour: generated from a caption that names the row's main colour, judged like the real photo
    rows, texts, labels = [], [], []
    for i, row_captions in enumerate(captions):
        colour = main_colour(row_captions)
        agreeing = [t for t in row_captions if main_colour(t) == colour] if colour else []
        if agreeing:
            rows.append(i), texts.append(agreeing[0]), labels.append(COLOURS.index(colour))
    if colour_rows is not None:
        rows, texts, labels = rows[:colour_rows], texts[:colour_rows], labels[:colour_rows]
    labels = torch.tensor(labels)
    k = len(COLOURS)
    judged_fake = predict(classifier, draw(pipe, texts, 20_000_000, truncation))
    judged_real = predict(classifier, real[rows])
    targets = (labels + 1 + torch.arange(len(labels)) % (k - 1)) % k   # every other colour in turn
    swapped = [swap_colours(t, COLOURS[c]) for t, c in zip(texts, targets.tolist())]
    judged_swap = predict(classifier, draw(pipe, swapped, 20_000_000, truncation))
    fake_acc, real_acc = accuracy(judged_fake, labels, k), accuracy(judged_real, labels, k)
    shuffled = accuracy(judged_fake, labels[torch.from_numpy(rng.permutation(len(labels)))], k)
    swap_acc = accuracy(judged_swap, targets, k)
    result.update({
        "colour_rows": len(labels),
        "colour_accuracy_generated": fake_acc["accuracy"], "colour_accuracy_real_ceiling": real_acc["accuracy"],
        "colour_accuracy_shuffled_floor": shuffled["accuracy"],
        "colour_balanced_generated": fake_acc["balanced_accuracy"],
        "colour_balanced_real_ceiling": real_acc["balanced_accuracy"],
        "colour_balanced_shuffled_floor": shuffled["balanced_accuracy"],
        "swapped_colour_accuracy": swap_acc["accuracy"], "swapped_chance": round(1 / k, 4),
        "colour_per_class_generated": {COLOURS[c]: v for c, v in fake_acc["per_class"].items()},
        "colour_per_class_real": {COLOURS[c]: v for c, v in real_acc["per_class"].items()},
        "example_swap": f"{texts[0]!r} -> {swapped[0]!r}" if texts else None})

    # ---- FID / KID: one caption of a held-out image per sample, against the held-out species' real crops;
    # and the same birds in a feature space that never saw ImageNet (the species judge), beside its real-vs-real floor
    if fid or species is not None:
        # rows in a random order (the held-out rows come sorted by species): every species in its share, also
        # in the first half that species_fd takes; past len(captions) the same order again
        order = rng.permutation(len(captions))
        picks = [int(order[i % len(captions)]) for i in range(num_samples)]
        chosen = [captions[i][rng.integers(len(captions[i]))] for i in picks]
        fake = draw(pipe, chosen, 10_000_000, truncation)
        if fid:
            from .metrics import InceptionFeatures, cached_features, fid_kid

            features = features or InceptionFeatures()
            if real_features is None:
                real_features = (cached_features(f"{real_key}-{features.name}", lambda: features(real)) if real_key
                                 else features(real))
            result.update(fid_kid(real_features, features(fake)))
        if species is not None:
            from .species_classifier import species_fd

            result.update(species_fd(species, real, fake, seed=seed))
    return result
