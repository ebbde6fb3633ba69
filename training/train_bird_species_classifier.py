"""Train the birds' second judge: a species CNN from scratch on the training species (no ImageNet anywhere).

    python training/train_bird_species_classifier.py --output_dir runs/bird_species_classifier --threads 1

Its penultimate layer is the feature space of ``species_fd`` (gan_models/judges/species_classifier.py):
the Fréchet distance between generated birds and the real crops of the species training held out,
a score the projected discriminator's ImageNet features cannot flatter. It learns the 130 species
that text-to-image training sees (the same ``--holdout_classes`` split, so the 20 held-out species
are unknown to it too), from 90% of their crops; its accuracy on the other 10% says it learned
something about birds. Crops: padded as the GAN's training pads them, random 64 crops of the 72
squares and flips.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from train_text2img import jitter  # noqa: E402
from gan_models.birds.captions import holdout_classes, load_captioned  # noqa: E402
from gan_models.data import to_float  # noqa: E402
from gan_models.judges.birds_eval import centre  # noqa: E402
from gan_models.judges.species_classifier import SpeciesClassifier, species_accuracy  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # the birds' captioned crops have no Hub copy in this layout: the default is the local folder
    common.add_data_args(parser, run_name="bird_species_classifier", dataset="../shared/data/cub-birds",
                         local_dataset="../shared/data/cub-birds")
    a = parser.add_argument
    a("--image_column", default="image")
    a("--text_column", default="text")
    a("--label_column", default="label")
    a("--holdout_classes", type=int, default=20, help="the species text-to-image training holds out (same seed)")
    a("--holdout_seed", type=int, default=0)
    a("--val_share", type=float, default=0.1, help="share of each training species' crops kept for the accuracy")
    a("--max_rows", type=int, default=None)
    a("--epochs", type=int, default=12)
    a("--batch_size", type=int, default=128)
    a("--lr", type=float, default=3e-3, help="peak of the one-cycle schedule")
    a("--channels", type=int, default=32)
    a("--seed", type=int, default=0)
    a("--threads", type=int, default=None)
    return parser.parse_args(argv)


def main(args) -> Path:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with common.dataset_errors(args):  # the data first: a dataset that cannot be had leaves no empty run folder
        data = load_captioned(args.dataset, image_column=args.image_column, text_column=args.text_column,
                              label_column=args.label_column, size=72, max_rows=args.max_rows)
    common.resolve_output_dir(args)
    out = common.check_output_dir(args.output_dir)
    train_rows, _, held = holdout_classes(data.labels, args.holdout_classes, args.holdout_seed)
    species = np.unique(data.labels[train_rows])
    labels = torch.from_numpy(np.searchsorted(species, data.labels[train_rows]))
    rng = np.random.default_rng(args.seed)
    val = np.zeros(len(train_rows), dtype=bool)
    for k in range(len(species)):  # the same share of every species
        rows = np.flatnonzero(labels.numpy() == k)
        val[rng.choice(rows, max(1, round(len(rows) * args.val_share)), replace=False)] = True
    images = data.images[train_rows]
    fit_x, fit_y = images[~val], labels[~val]
    print(f"{len(species)} species: {len(fit_x)} crops to learn from, {int(val.sum())} to check; "
          f"held-out species (never seen): {held}")

    model = SpeciesClassifier(num_classes=len(species), channels=args.channels)
    batches = common.InMemoryBatches(fit_x, fit_y, batch_size=args.batch_size, seed=args.seed)
    total = args.epochs * batches.steps_per_epoch
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total, pct_start=0.2)
    t0 = time.perf_counter()
    model.train()
    for step in range(total):
        x, y = batches.batch(step)
        loss = F.cross_entropy(model(jitter(to_float(x), 64, flip=True)), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0 or step + 1 == total:
            print(f"step {step + 1}/{total} loss {loss.item():.4f} ({time.perf_counter() - t0:.0f}s)", flush=True)

    folder = common.save_model(model.eval(), out / "classifier", fp16=True)
    saved = SpeciesClassifier.load_strict(folder)  # measure what was written (fp16), not what is in memory
    metrics = {"species": len(species), "heldout_species": held, "train_crops": int(len(fit_x)),
               "val_crops": int(val.sum()), "val_accuracy": round(species_accuracy(saved, centre(images[val]),
                                                                                   labels[val]), 4),
               "chance": round(1 / len(species), 4), "epochs": args.epochs, "holdout_seed": args.holdout_seed,
               "train_seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(metrics, indent=1))
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    common.write_model_card(
        folder, title="Bird species classifier, the birds' second judge (GAN Gallery)",
        pipeline_tag="image-classification", dataset=args.dataset, license="other",
        tags=["cub-200-2011", "image-classification"],
        description=(f"A CNN (four conv + BatchNorm stages, 64x64 input, a {model.config.feature_dim}-d "
                     f"penultimate layer) trained from scratch, {args.epochs} epochs, on {len(species)} CUB "
                     f"species (those text-to-image training sees; {args.holdout_classes} held out from seed "
                     f"{args.holdout_seed}). No ImageNet weights: its features give a Fréchet distance that a "
                     "discriminator on ImageNet features cannot flatter. CUB-200-2011 is for non-commercial "
                     "research and education."),
        usage=("from gan_models.judges.species_classifier import SpeciesClassifier\n"
               f"clf = SpeciesClassifier.load_strict(\"{folder}\")"),
        metrics={f"accuracy on {metrics['val_crops']} crops of the training species it did not learn from":
                 metrics["val_accuracy"], "chance": metrics["chance"]})
    return folder


if __name__ == "__main__":
    main(parse_args())
