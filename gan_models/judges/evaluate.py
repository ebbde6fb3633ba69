"""Measure a demo's model against held-out real data: ``python -m gan_models.evaluate faces``.

    python -m gan_models.evaluate faces --dataset ../shared/data/celeba-faces-64 --num_samples 1000
    python -m gan_models.evaluate faces --weights runs/faces/generator --out results/faces

Faces: FID and KID between generated faces and the faces the training held out
(``--holdout`` rows drawn at random from ``--holdout_seed``, the same split as
training/train_dcgan.py and train_stylegan.py); ``style_faces`` for the style-based model (and
gan_models/judges/face_eval.py for both in a face-recognition space too). Writes ``<out>.json`` and ``<out>.md``.

    python -m gan_models.evaluate digits --dataset ../shared/data/mnist --holdout 10000 --num_samples 10000

Digits: label accuracy (overall and per digit) of ``--num_samples`` generated digits (an
equal share per digit) as judged by the MNIST classifier (``--classifier``), FID in the
classifier's feature space against the held-out rows, and per digit how varied the samples
are (mean pairwise feature distance, generated / real: about 1 = as varied as real digits).

    python -m gan_models.evaluate maps --weights runs/maps --out results/maps   # --no_fid: skip FID/KID
    python -m gan_models.evaluate maps --cyclegan_weights runs/cyclegan/pipeline --out results/maps-both

Maps: each direction on the 100 pairs held out (seed 0, as train_pix2pix.py --holdout 100):
aerial -> map by the map palette (per-class IoU, mIoU, pixel accuracy) and L1; map -> aerial
by L1 and FID/KID against the held-out photos; there and back by L1 (see gan_models/maps/palette.py).
pix2pix and CycleGAN (when its weights are installed, or named) in one table; ``cyclegan_maps``
scores CycleGAN alone.

    python -m gan_models.evaluate birds --weights runs/birds/generator --out results/birds   # --no_fid: colour only

Birds: on the 20 species training held out, FID/KID against their real crops, and whether the
birds' colours follow the captions, judged by the colour classifier (see gan_models/judges/birds_eval.py).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..data import holdout_split, load_image_tensor
from ..hub.weights_source import load_demo
from ..registry import DEMOS, WEIGHTS_DIR
from .metrics import InceptionFeatures, cached_features, fid_kid


def real_holdout(dataset: str, holdout: int, seed: int, size: int = 64) -> torch.Tensor:
    images = load_image_tensor(dataset, "image", size, "RGB")
    _, held = holdout_split(len(images), holdout, seed)
    return images[held]


def unit_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """A pipeline's ``output_type="pt"`` (floats in [0, 1], diffusers' convention) -> uint8 [0, 255]."""
    return images.mul(255).round_().clamp_(0, 255).to(torch.uint8)


def generate_uint8(pipe, num: int, seed_offset: int = 10_000_000, truncation: float = 1.0, batch: int = 250):
    """``num`` samples of an unconditional pipeline from seeds outside the app's usual range."""
    out = []
    for start in range(0, num, batch):
        seeds = list(range(seed_offset + start, seed_offset + min(num, start + batch)))
        out.append(unit_to_uint8(pipe(seeds=seeds, truncation=truncation, output_type="pt").images))
    return torch.cat(out)


def held_out_features(dataset: str, features, images=None, holdout: int = 1000, holdout_seed: int = 0):
    """``features`` of the faces held out of ``dataset`` (the training scripts' split), cached on disk under one key
    per dataset, split and feature network; ``images``: those faces if the caller has them (else loaded)."""
    key = f"{Path(dataset).name}-holdout{holdout}-seed{holdout_seed}-{features.name}"
    return cached_features(key, lambda: features(real_holdout(dataset, holdout, holdout_seed) if images is None
                                                 else images))


def evaluate_faces(pipe, dataset: str, num_samples: int, holdout: int = 1000, holdout_seed: int = 0,
                   truncation: float = 1.0, features=None) -> dict:
    features = features or InceptionFeatures()
    real = held_out_features(dataset, features, None, holdout, holdout_seed)
    fake = features(generate_uint8(pipe, num_samples, truncation=truncation))
    return {"demo": "faces", "pipeline": type(pipe).__name__, "dataset": dataset, "truncation": truncation,
            **fid_kid(real, fake)}


def generate_labelled_uint8(pipe, num: int, seed_offset: int = 10_000_000, truncation: float = 1.0):
    """``num`` samples of a conditional pipeline, an equal share per class: (uint8 images, labels)."""
    k = pipe.num_classes
    per_class = num // k
    images, labels = [], []
    for y in range(k):
        for start in range(0, per_class, 500):
            seeds = list(range(seed_offset + start, seed_offset + min(per_class, start + 500)))
            out = pipe(labels=[y], seeds=seeds, truncation=truncation, output_type="pt")
            images.append(unit_to_uint8(out.images))
            labels += out.labels
    return torch.cat(images), torch.tensor(labels)


def evaluate_digits(pipe, classifier, dataset: str, num_samples: int, holdout: int = 10_000, holdout_seed: int = 0,
                    truncation: float = 1.0) -> dict:
    from ..data import load_labelled_tensors
    from .mnist_classifier import classifier_features, feature_spread, label_accuracy
    from .metrics import frechet_distance

    size = pipe.generator.image_size
    images, labels, _ = load_labelled_tensors(dataset, size=size, mode="L")
    _, held = holdout_split(len(images), holdout, holdout_seed)
    real, real_labels = images[held], labels[held]
    fake, fake_labels = generate_labelled_uint8(pipe, num_samples, truncation=truncation)
    acc = label_accuracy(classifier, fake, fake_labels)
    judge = label_accuracy(classifier, real, real_labels)
    real_feats, fake_feats = classifier_features(classifier, real), classifier_features(classifier, fake)
    spread = [round(feature_spread(fake_feats[(fake_labels == y).numpy()])
                    / feature_spread(real_feats[(real_labels == y).numpy()]), 3) for y in range(pipe.num_classes)]
    return {"demo": "digits", "dataset": dataset, "truncation": truncation,
            "label_accuracy": round(acc["overall"], 4), "worst_class_accuracy": round(min(acc["per_class"]), 4),
            "per_class_accuracy": [round(a, 4) for a in acc["per_class"]],
            "classifier_fid": round(frechet_distance(real_feats, fake_feats), 3),
            "diversity_ratio_per_class": spread, "num_fake": len(fake), "num_real": len(real),
            "classifier_accuracy_on_real_holdout": round(judge["overall"], 4)}


def to_markdown(result: dict) -> str:
    keys = [k for k in result if k not in ("demo", "dataset")]
    return ("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n| "
            + " | ".join(str(result[k]) for k in keys) + " |\n")


DEFAULTS = {  # the split each training script holds out by default in its README command
    "faces": {"dataset": "../shared/data/celeba-faces-64", "num_samples": 1000, "holdout": 1000},
    "style_faces": {"dataset": "../shared/data/celeba-faces-64", "num_samples": 1000, "holdout": 1000},
    "digits": {"dataset": "../shared/data/mnist", "num_samples": 10_000, "holdout": 10_000},
    "maps": {"dataset": "../shared/data/maps", "num_samples": 100, "holdout": 100},  # one output per held-out pair
    "cyclegan_maps": {"dataset": "../shared/data/maps", "num_samples": 100, "holdout": 100},  # pix2pix's split
    "birds": {"dataset": "../shared/data/cub-birds", "num_samples": 1000, "holdout": 20},  # holdout: species
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("demo", choices=sorted(DEMOS))
    parser.add_argument("--weights", default=None, help="folder or Hub repo id (default: embedded weights)")
    parser.add_argument("--dataset", default=None,
                        help="default: ../shared/data/celeba-faces-64 (faces), ../shared/data/mnist (digits)")
    parser.add_argument("--num_samples", type=int, default=None, help="default: 1000 (faces), 10000 (digits)")
    parser.add_argument("--holdout", type=int, default=None, help="default: 1000 (faces), 10000 (digits)")
    parser.add_argument("--holdout_seed", type=int, default=0)
    parser.add_argument("--truncation", type=float, default=1.0)
    parser.add_argument("--classifier", default=str(WEIGHTS_DIR / "mnist_classifier"),
                        help="digits: the judging classifier's folder")
    parser.add_argument("--out", default=None, help="write <out>.json and <out>.md")
    parser.add_argument("--colour_classifier", default=str(WEIGHTS_DIR
                                                           / "bird_colour_classifier"),
                        help="birds: the colour judge's folder (training/train_bird_colour_classifier.py)")
    parser.add_argument("--no_fid", action="store_true", help="maps, birds: skip FID/KID (no Inception weights needed)")
    parser.add_argument("--cyclegan_weights", default=None,
                        help="maps: the CycleGAN scored beside pix2pix (folder or Hub repo id; default: its embedded "
                             "weights, when installed)")
    parser.add_argument("--species_classifier", default=str(WEIGHTS_DIR / "bird_species_classifier"),
                        help="birds: the species judge's folder, for species_fd, a Fréchet distance in a feature "
                             "space not trained on ImageNet ('none': skip)")
    parser.add_argument("--grid", default=None, help="birds: also write a grid of 64 birds drawn from captions of "
                                                     "held-out species (PNG path)")
    parser.add_argument("--pad", default="pad-blur", choices=["pad-blur", "pad"],
                        help="birds: how the real crops are made square (pad-blur: as training does since "
                             "2026-12; pad: plain edge padding, the earlier reference)")
    args = parser.parse_args(argv)
    if args.demo == "superres":  # its own held-out sets (three datasets) and table: gan_models/judges/superres_eval.py
        from .superres_eval import main as superres_main

        return superres_main([*(["--weights", args.weights] if args.weights else []),
                              *(["--out", args.out] if args.out else []), "--holdout_seed", str(args.holdout_seed),
                              *(["--holdout", str(args.holdout)] if args.holdout is not None else []),
                              *(["--kid_images", "0"] if args.no_fid else [])])
    defaults = DEFAULTS[args.demo]
    args.dataset = args.dataset or defaults["dataset"]
    args.num_samples = args.num_samples or defaults["num_samples"]
    args.holdout = defaults["holdout"] if args.holdout is None else args.holdout
    pipe = load_demo(DEMOS[args.demo], args.weights, use_hub=False).pipeline
    t0 = time.perf_counter()
    if args.demo == "digits":
        from .mnist_classifier import MNISTClassifier

        classifier = MNISTClassifier.load_strict(args.classifier)
        result = evaluate_digits(pipe, classifier, args.dataset, args.num_samples, args.holdout, args.holdout_seed,
                                 args.truncation)
    elif args.demo == "birds":
        from .birds_eval import evaluate_birds
        from .colour_classifier import ColourClassifier

        classifier = ColourClassifier.load_strict(args.colour_classifier)
        species = None
        if args.species_classifier != "none":
            from .species_classifier import SpeciesClassifier

            species = SpeciesClassifier.load_strict(args.species_classifier)
        result = evaluate_birds(pipe, classifier, args.dataset, args.num_samples, args.holdout, args.holdout_seed,
                                args.truncation, fid=not args.no_fid, pad=args.pad, species=species)
        if args.grid:
            from .birds_eval import heldout_grid

            heldout_grid(pipe, args.dataset, 64, args.holdout, args.holdout_seed).save(args.grid)
    elif args.demo in ("maps", "cyclegan_maps"):  # both models on the same pairs, in one table
        from .maps_eval import evaluate_maps_models

        pipes = {"pix2pix": pipe} if args.demo == "maps" else {"CycleGAN": pipe}
        cyclegan = DEMOS["cyclegan_maps"]
        if args.demo == "maps" and (args.cyclegan_weights or not cyclegan.not_installed):
            pipes["CycleGAN"] = load_demo(cyclegan, args.cyclegan_weights, use_hub=False).pipeline
        elif args.demo == "maps":
            print(f"CycleGAN is not scored: its weights are not installed yet ({cyclegan.not_installed})")
        result = evaluate_maps_models(pipes, args.dataset, args.holdout, args.holdout_seed, fid=not args.no_fid)
    else:
        result = evaluate_faces(pipe, args.dataset, args.num_samples, args.holdout, args.holdout_seed,
                                args.truncation)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n")
        if args.demo in ("maps", "cyclegan_maps"):  # the models side by side, then each one's per-class table
            from .maps_eval import maps_markdown, models_markdown

            Path(f"{args.out}.md").write_text(models_markdown(result) + "".join(
                f"\n### {name}\n\n{maps_markdown(one)}" for name, one in result["models"].items()))
        else:
            Path(f"{args.out}.md").write_text(to_markdown(result))


if __name__ == "__main__":
    main()
