"""The live GAN-train run's settings (gan_train.py): its bounds and defaults, its three classifiers' names, where
MNIST is, and which rows the cGAN held out. Plain Python, no torch: the Digits tab builds its page from these, and
the app builds every page before it listens; gan_train.py imports them from here.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.checks import InputError, check_int, check_seed

REAL_CHOICES = (5, 10, 50)            # real digits per class the live run offers
MIN_GAN, MAX_GAN = 10, 500            # cGAN digits per class
MIN_STEPS, MAX_STEPS = 50, 1000       # steps of each classifier
DEFAULT_REAL, DEFAULT_GAN, DEFAULT_STEPS = 10, 100, 200  # the live run's defaults, and the table's steps
LIVE_TEST_DIGITS = 2000               # the live run's test set: the first 2,000 held-out rows (by row number)
CGAN_HOLDOUT, CGAN_HOLDOUT_SEED = 10_000, 0  # the embedded cGAN's split (train_cgan.py --holdout 10000, seed 0)
LOCAL_MNIST, HUB_MNIST = "../shared/data/mnist", "ylecun/mnist"
ARMS = {"real": "Real only", "real+gan": "Real + GAN", "gan": "GAN only"}


def cgan_holdout(weights_folder: str | Path | None) -> tuple[int, int, str]:
    """(held-out rows, their seed, where that came from) for the cGAN whose weights are in ``weights_folder``.

    A folder written by training/train_cgan.py carries ``training_args.json`` with its ``--holdout`` and
    ``--holdout_seed``; the embedded folder predates that file, and its split is 10,000 rows, seed 0.
    """
    args_file = Path(weights_folder) / "training_args.json" if weights_folder else None
    if args_file is not None and args_file.is_file():
        args = json.loads(args_file.read_text())
        return int(args["holdout"]), int(args.get("holdout_seed", 0)), f"{args_file}"
    return CGAN_HOLDOUT, CGAN_HOLDOUT_SEED, "the embedded weights' split (docs/digits.md)"


def check_live_settings(real_per_class, gan_per_class, steps, seed) -> tuple[int, int, int, int]:
    """The live run's bounds: real digits per class one of 5, 10, 50; 10-500 cGAN digits per class; 50-1,000 steps."""
    real = check_int(real_per_class, "real digits per class", 1, max(REAL_CHOICES))
    if real not in REAL_CHOICES:
        raise InputError(f"real digits per class must be one of {', '.join(map(str, REAL_CHOICES))}, got {real}")
    gan = check_int(gan_per_class, "GAN digits per class", MIN_GAN, MAX_GAN)
    steps = check_int(steps, "training steps", MIN_STEPS, MAX_STEPS)
    return real, gan, steps, check_seed(seed)
