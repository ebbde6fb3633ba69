"""Train the colour judge of the birds demo (gan_models/judges/colour_classifier.py) and save it in the Hub format.

    python training/train_bird_colour_classifier.py --dataset ../shared/data/cub-birds \\
        --output_dir runs/bird_colour_classifier --threads 1          # about 3 minutes on one CPU thread

Labels: each row's main body colour from its captions (rows whose captions name none are
left out). Trained on the training species only; its accuracy on the real crops of the
``--holdout_classes`` held-out species (the same split as training/train_text2img.py) is the
ceiling that ``python -m gan_models.judges.evaluate birds`` compares generated birds against.
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
from gan_models.judges.birds_eval import centre  # noqa: E402
from gan_models.birds.captions import holdout_classes, load_captioned  # noqa: E402
from gan_models.birds.colour_words import COLOURS, main_colour  # noqa: E402
from gan_models.judges.colour_classifier import ColourClassifier, accuracy, predict  # noqa: E402
from gan_models.data import to_float  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # the birds' captioned crops have no Hub copy in this layout: the default is the local folder
    common.add_data_args(parser, run_name="bird_colour_classifier", dataset="../shared/data/cub-birds",
                         local_dataset="../shared/data/cub-birds")
    a = parser.add_argument
    a("--image_column", default="image")
    a("--text_column", default="text")
    a("--label_column", default="label")
    a("--holdout_classes", type=int, default=20)
    a("--holdout_seed", type=int, default=0)
    a("--max_rows", type=int, default=None)
    a("--epochs", type=int, default=12)
    a("--batch_size", type=int, default=128)
    a("--lr", type=float, default=3e-3, help="peak of the one-cycle schedule")
    a("--class_weight_power", type=float, default=0.5,
      help="weight each colour by (1 / its frequency) ** power in the loss (0: plain; rare colours count more)")
    a("--seed", type=int, default=0)
    a("--threads", type=int, default=None)
    return parser.parse_args(argv)


def colour_labels(captions: list[list[str]]) -> np.ndarray:
    """Index into COLOURS of each row's main body colour, -1 where the captions name none."""
    return np.array([COLOURS.index(c) if (c := main_colour(row)) else -1 for row in captions], dtype=np.int64)


def main(args) -> Path:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with common.dataset_errors(args):  # the data first: a dataset that cannot be had leaves no empty run folder
        data = load_captioned(args.dataset, image_column=args.image_column, text_column=args.text_column,
                              label_column=args.label_column, size=72, max_rows=args.max_rows)
    common.resolve_output_dir(args)
    out = common.check_output_dir(args.output_dir)
    colours = colour_labels(data.captions)
    train_idx, held_idx, held = holdout_classes(data.labels, args.holdout_classes, args.holdout_seed)
    train_idx, held_idx = train_idx[colours[train_idx] >= 0], held_idx[colours[held_idx] >= 0]
    counts = np.bincount(colours[train_idx], minlength=len(COLOURS)).tolist()
    print(f"{len(train_idx)} training crops, {len(held_idx)} of the {len(held)} held-out species; "
          f"classes {dict(zip(COLOURS, counts))}")

    model = ColourClassifier(COLOURS)
    batches = common.InMemoryBatches(data.images[train_idx], torch.from_numpy(colours[train_idx]),
                                     batch_size=args.batch_size, seed=args.seed)
    total = args.epochs * batches.steps_per_epoch
    weights = torch.tensor(counts, dtype=torch.float).clamp(min=1).pow(-args.class_weight_power)
    weights = weights / (weights * torch.tensor(counts)).sum() * sum(counts)  # mean weight over the rows: 1
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total, pct_start=0.15)
    t0 = time.perf_counter()
    model.train()
    for step in range(total):
        x, y = batches.batch(step)
        loss = F.cross_entropy(model(jitter(to_float(x), 64, flip=True)), y, weight=weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 50 == 0 or step + 1 == total:
            print(f"step {step + 1}/{total} loss {loss.item():.4f} ({time.perf_counter() - t0:.0f}s)", flush=True)

    folder = common.save_model(model.eval(), out / "classifier", fp16=True)
    saved = ColourClassifier.load_strict(folder)  # measure what was written (fp16), not what is in memory
    labels = torch.from_numpy(colours[held_idx])
    real = accuracy(predict(saved, centre(data.images[held_idx])), labels, len(COLOURS))
    majority = float((labels == int(np.argmax(counts))).float().mean())
    metrics = {"heldout_species": held, "heldout_rows": len(held_idx), "real_accuracy": real["accuracy"],
               "real_balanced_accuracy": real["balanced_accuracy"],
               "real_per_class": {COLOURS[k]: v for k, v in real["per_class"].items()},
               "majority_class_rate": round(majority, 4), "train_counts": dict(zip(COLOURS, counts)),
               "heldout_counts": dict(zip(COLOURS, np.bincount(colours[held_idx], minlength=len(COLOURS)).tolist())),
               "class_weight_power": args.class_weight_power,
               "epochs": args.epochs, "holdout_seed": args.holdout_seed,
               "train_seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(metrics, indent=1))
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    common.write_model_card(
        folder, title="Bird body-colour classifier (GAN Gallery)", pipeline_tag="image-classification",
        dataset=args.dataset, license="other", tags=["cub-200-2011", "image-classification"],
        description=("A small CNN (three conv + BatchNorm layers, 32x32 input) that names a bird's main body colour "
                     f"({', '.join(COLOURS)}), trained {args.epochs} epochs on the real crops of the training species "
                     "with labels read from their captions. It judges whether the text-to-image birds follow "
                     "the colour words of their prompts."),
        usage=("from gan_models.judges.colour_classifier import ColourClassifier\n"
               f"clf = ColourClassifier.load_strict(\"{folder}\")"),
        metrics={"accuracy on real crops of held-out species": metrics["real_accuracy"],
                 "balanced accuracy (mean over colours)": metrics["real_balanced_accuracy"],
                 "majority-colour rate (always answering the commonest colour)": metrics["majority_class_rate"],
                 "held-out crops": len(held_idx)})
    return folder


if __name__ == "__main__":
    main(parse_args())
