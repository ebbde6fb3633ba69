"""Train the small CNN that judges the digits demo, and save it in the Hub format.

    python training/train_mnist_classifier.py --dataset ../shared/data/mnist --output_dir runs/mnist_classifier
    python training/train_mnist_classifier.py ... --epochs 6 --threads 1 --fp16

The last ``--holdout`` rows (10,000, drawn at random from ``--holdout_seed``, never by row
range) are its test set; the test accuracy is measured on the saved weights (after the
fp16 conversion with ``--fp16``) and written to ``metrics.json`` and the model card.
Small random shifts (up to 2 pixels) of the training digits make it a sturdier judge.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from gan_models.data import holdout_split, load_labelled_tensors, random_shift, to_float  # noqa: E402
from gan_models.judges.mnist_classifier import MNISTClassifier, label_accuracy  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_data_args(parser, run_name="mnist_classifier", dataset="ylecun/mnist",
                         local_dataset="../shared/data/mnist")
    a = parser.add_argument
    a("--image_column", default="image")
    a("--label_column", default="label")
    a("--resolution", type=int, default=28)
    a("--holdout", type=int, default=10_000, help="rows held out as the test set")
    a("--holdout_seed", type=int, default=0)
    a("--max_rows", type=int, default=None)
    a("--epochs", type=int, default=6)
    a("--batch_size", type=int, default=128)
    a("--lr", type=float, default=3e-3, help="peak of the one-cycle schedule")
    a("--max_shift", type=int, default=2, help="random translation of training digits, in pixels")
    a("--seed", type=int, default=0)
    a("--threads", type=int, default=None)
    a("--fp16", action="store_true", help="save the weights in fp16 (accuracy is measured after the conversion)")
    return parser.parse_args(argv)


def main(args) -> Path:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with common.dataset_errors(args):  # the data first: a dataset that cannot be had leaves no empty run folder
        images, labels, names = load_labelled_tensors(args.dataset, args.image_column, args.label_column,
                                                      args.resolution, "L", max_rows=args.max_rows)
    common.resolve_output_dir(args)
    out = common.check_output_dir(args.output_dir)
    train_idx, test_idx = holdout_split(len(images), args.holdout, args.holdout_seed)
    num_classes = len(names) if names else int(labels.max()) + 1
    print(f"{len(train_idx)} training images, {len(test_idx)} held out as the test set, {num_classes} classes")

    model = MNISTClassifier(num_classes=num_classes, image_size=args.resolution)
    data = common.InMemoryBatches(images[train_idx], labels[train_idx], batch_size=args.batch_size, seed=args.seed)
    total = args.epochs * data.steps_per_epoch
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total, pct_start=0.15)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    model.train()
    for step in range(total):
        x, y = data.batch(step)
        x = random_shift(to_float(x), args.max_shift, gen)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0 or step + 1 == total:
            print(f"step {step + 1}/{total} loss {loss.item():.4f} ({time.perf_counter() - t0:.0f}s)", flush=True)

    folder = common.save_model(model.eval(), out / "classifier", fp16=args.fp16)
    saved = MNISTClassifier.load_strict(folder)  # measure what was written, not what is in memory
    acc = label_accuracy(saved, images[test_idx], labels[test_idx])
    metrics = {"test_accuracy": round(acc["overall"], 4),
               "test_accuracy_per_class": [round(a, 4) for a in acc["per_class"]],
               "num_test": acc["count"], "holdout": args.holdout, "holdout_seed": args.holdout_seed,
               "epochs": args.epochs, "fp16": args.fp16, "train_seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(metrics, indent=1))
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    common.write_model_card(
        folder, title="MNIST digit classifier (GAN Gallery)", pipeline_tag="image-classification",
        dataset=args.dataset, license="cc-by-sa-3.0", tags=["mnist", "image-classification"],
        description=(f"A small CNN (two conv + BatchNorm layers of 32 and 64 channels, a 128-d penultimate layer)"
                     f" trained {args.epochs} epochs on MNIST minus {args.holdout} "
                     f"rows held out at random (seed {args.holdout_seed}) as its test set. It judges the label "
                     "accuracy of the conditional digits generator, and its penultimate layer gives "
                     "FID-in-classifier-space features."),
        usage=("from gan_models.judges.mnist_classifier import MNISTClassifier, label_accuracy\n"
               f"clf = MNISTClassifier.load_strict(\"{folder}\")"),
        metrics={"test accuracy (held-out rows)": metrics["test_accuracy"], "test rows": acc["count"]},
    )
    return folder


if __name__ == "__main__":
    main(parse_args())
