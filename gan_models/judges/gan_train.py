"""Do GAN digits train a classifier? A small CNN trained for a few hundred steps on a few real digits per class,
on the same plus cGAN digits, and on cGAN digits only, each tested on real digits the cGAN never saw.

Trained on generated digits only and tested on real ones, the classifier's accuracy is the **GAN-train** score
(Shmelkov, Schmid & Alahari 2018, "How good is my GAN?"): it is high only when the generated digits are right for
their label *and* as varied as real ones (a cGAN that draws one perfect 7 per class trains a poor classifier),
which FID alone does not tell apart. The same classifier trained on as many real digits says what "high" is.

    python -m gan_models.judges.gan_train --out benchmarks/results/digits_gan_train   # the multi-seed table

The test digits are the rows the cGAN held out (``training_args.json`` of its folder, else the embedded weights'
split: 10,000 of MNIST's 60,000 training rows drawn at random with seed 0, docs/digits.md); the few real training
digits are drawn, by a seed, from the rows it trained on. Nothing here imports diffusers: the pipeline is passed in.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import InputError
from ..data import (DatasetUnavailable, holdout_split, images_to_uint8, load_hf_dataset, looks_like_folder,
                    random_shift, to_float, to_uint8)
# The live run's settings live without torch, for the app's page; all of them can be imported from here too.
from .gan_train_settings import (ARMS, CGAN_HOLDOUT, CGAN_HOLDOUT_SEED, DEFAULT_GAN, DEFAULT_REAL,  # noqa: F401
                                 DEFAULT_STEPS, HUB_MNIST, LIVE_TEST_DIGITS, LOCAL_MNIST, MAX_GAN, MAX_STEPS, MIN_GAN,
                                 MIN_STEPS, REAL_CHOICES, cgan_holdout, check_live_settings)

BATCH_SIZE, LEARNING_RATE, MAX_SHIFT = 64, 2e-3, 2
HUB_RETRY_S = 600  # a Hub dataset that could not be had is not asked for again for 10 minutes (each try ~26 s offline)

Progress = Callable[[float, str], None]  # (fraction done in [0, 1], what is being done)


class HeldOutDigits:
    """A labelled digits dataset split as the cGAN's training split it: ``pool``, the rows it trained on (the few
    real training digits are drawn from them), and ``held``, the rows it never saw (the test digits).

    Only the labels are read up front (under a second for MNIST); images are decoded for the rows a run uses.
    """

    def __init__(self, ds, name: str, holdout: int = CGAN_HOLDOUT, holdout_seed: int = CGAN_HOLDOUT_SEED,
                 num_classes: int = 10, image_column: str = "image", label_column: str = "label"):
        for column in (image_column, label_column):
            if column not in ds.column_names:
                raise ValueError(f"dataset {name!r} has no column {column!r}; its columns are {ds.column_names}")
        if len(ds) <= holdout:
            raise ValueError(f"dataset {name!r} has {len(ds)} rows: the cGAN held out {holdout}, so it is not the "
                             "dataset the cGAN was trained on")
        self.ds, self.name, self.image_column = ds, name, image_column
        self.holdout, self.holdout_seed, self.num_classes = holdout, holdout_seed, num_classes
        self.labels = torch.tensor(ds[label_column], dtype=torch.long)  # N
        if int(self.labels.min()) < 0 or int(self.labels.max()) >= num_classes:
            raise ValueError(f"dataset {name!r} has labels outside 0..{num_classes - 1}")
        self.pool, self.held = holdout_split(len(ds), holdout, holdout_seed)
        self._tests: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, name: str, split: str = "train", **kwargs) -> "HeldOutDigits":
        return cls(load_hf_dataset(name, split), name, **kwargs)

    def decode(self, rows) -> torch.Tensor:
        """uint8 N x 1 x 28 x 28 of these rows."""
        return images_to_uint8(self.ds.select(np.asarray(rows, dtype=np.int64))[self.image_column], 28, "L")

    def real(self, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``per_class`` real digits of each class drawn from the cGAN's training rows by ``seed``: (uint8, labels)."""
        rng = np.random.default_rng(seed)
        pool_labels = self.labels[self.pool].numpy()
        rows = []
        for k in range(self.num_classes):
            candidates = self.pool[pool_labels == k]
            if len(candidates) < per_class:
                raise InputError(f"the dataset has {len(candidates)} training digits of class {k}, fewer than the "
                                 f"{per_class} per class asked for")
            rows.append(rng.choice(candidates, per_class, replace=False))
        rows = np.concatenate(rows)
        return self.decode(rows), self.labels[rows]

    def test(self, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The held-out rows (the first ``limit`` by row number: they are a random draw already), decoded once."""
        rows = self.held if limit is None else self.held[:limit]
        with self._lock:  # two first runs at once decode them once
            if len(rows) not in self._tests:
                self._tests[len(rows)] = (self.decode(rows), self.labels[rows])
            return self._tests[len(rows)]


class DigitsSource:
    """Where the live run gets real digits: the first of ``candidates`` (a local folder or a Hub dataset id) that
    loads, loaded once and kept. When none does, ``get`` raises DatasetUnavailable with what each said and how
    to get the data; a Hub id that failed is not tried again for HUB_RETRY_S (a local folder is looked at on
    every call, so a copy put there later is found)."""

    def __init__(self, candidates: Sequence[str]):
        self.candidates = list(candidates)
        self._loaded: dict[tuple[int, int], HeldOutDigits] = {}
        self._failed: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, holdout: int = CGAN_HOLDOUT, holdout_seed: int = CGAN_HOLDOUT_SEED,
            progress: Progress | None = None) -> HeldOutDigits:
        with self._lock:  # one load at a time; the others wait for it and share it
            key = (holdout, holdout_seed)
            if key in self._loaded:
                return self._loaded[key]
            reasons = []
            for name in self.candidates:
                failed = self._failed.get(name)
                if failed and time.monotonic() - failed[0] < HUB_RETRY_S:
                    reasons.append(failed[1])
                    continue
                if progress:
                    progress(0.0, f"Loading the real digits ({name})")
                try:
                    digits = HeldOutDigits.load(name, holdout=holdout, holdout_seed=holdout_seed)
                except DatasetUnavailable as err:
                    reasons.append(str(err))
                    if not looks_like_folder(name):
                        self._failed[name] = (time.monotonic(), str(err))
                    continue
                self._loaded[key] = digits
                return digits
            raise DatasetUnavailable(needs_data_message(reasons), self.candidates[0] if self.candidates else "")


def needs_data_message(reasons: Sequence[str]) -> str:
    return ("This section needs the MNIST dataset (real digits to train on and test with), and none was found: "
            + "; ".join(reasons) + ". Get it with `python -c \"from datasets import load_dataset; "
            "load_dataset('ylecun/mnist', split='train').to_parquet('../shared/data/mnist/train.parquet')\"` "
            "(about 17 MB; from the repository folder), or start the app with `--mnist FOLDER_OR_HUB_ID`, or let "
            "it reach the Hugging Face Hub (HF_HUB_OFFLINE unset).")


def generate(pipe, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` cGAN digits of each class, noise from a torch.Generator seeded with ``seed`` (psi = 1), stored
    as uint8 like the real ones: (uint8 N x 1 x 28 x 28, labels N), class after class."""
    gen = torch.Generator().manual_seed(seed)
    images, labels = [], []
    for k in range(pipe.num_classes):
        out = pipe(labels=[k], num_images=per_class, generator=gen, output_type="pt")  # floats in [0, 1]
        images.append(to_uint8(out.images * 2 - 1))
        labels += out.labels
    return torch.cat(images), torch.tensor(labels, dtype=torch.long)


class SmallCNN(nn.Module):
    """Two strided convolutions and two linear layers (106k parameters): a few ms a step of 64 on one CPU thread.

    Its initial weights come from a torch.Generator, so a seed gives the same network in any thread.
    """

    def __init__(self, num_classes: int = 10, seed: int = 0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(True),   # 1x28x28 -> 16x14x14
            nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(True),  # -> 32x7x7
            nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(True),
            nn.Linear(64, num_classes),
        )
        gen = torch.Generator().manual_seed(seed)
        for m in self.net:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu", generator=gen)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 1 x 28 x 28 in [-1, 1] -> logits N x num_classes
        return self.net(x)


@torch.inference_mode()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Share of uint8 ``images`` that ``model`` classifies as ``labels``."""
    model.eval()
    right = sum(int((model(to_float(x)).argmax(1) == y).sum())
                for x, y in zip(images.split(batch_size), labels.split(batch_size)))
    model.train()
    return right / len(labels)


def train_and_test(images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor, test_labels: torch.Tensor,
                   steps: int, seed: int = 0, num_classes: int = 10, eval_points: int = 5,
                   progress: Callable[[int], None] | None = None) -> dict:
    """Train a SmallCNN on uint8 ``images`` for ``steps`` steps of 64 (drawn with replacement, shifted by up to 2
    pixels; Adam, learning rate 2e-3 decayed to 0 on a cosine) and test it on ``test_images``.

    Returns {"accuracy": on the test set after the last step, "curve": [[step, test accuracy], ...] at step 0 and
    ``eval_points`` evenly spaced steps, "train_size", "seconds"}. ``progress(step)`` is called every few steps.
    """
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    model = SmallCNN(num_classes, seed)
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + np.cos(np.pi * s / steps)))
    checkpoints = sorted({round(steps * i / eval_points) for i in range(1, eval_points + 1)})
    curve = [[0, accuracy(model, test_images, test_labels)]]
    for step in range(1, steps + 1):
        idx = torch.randint(len(images), (BATCH_SIZE,), generator=gen)
        x = random_shift(to_float(images[idx]), MAX_SHIFT, gen)  # 64 x 1 x 28 x 28 in [-1, 1]
        loss = F.cross_entropy(model(x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step in checkpoints:
            curve.append([step, accuracy(model, test_images, test_labels)])
        if progress is not None and (step % 10 == 0 or step == steps):
            progress(step)
    return {"accuracy": curve[-1][1], "curve": curve, "train_size": len(labels),
            "seconds": round(time.perf_counter() - t0, 2)}


@contextmanager
def one_torch_thread():
    """Torch on one thread in this thread (torch's thread count is per thread), restored after. The classifiers are
    tiny: on the 2-core CPU beside another job, a live run took 35 s on two threads and 12 s on one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def compare(digits: HeldOutDigits, pipe, real_per_class: int, gan_per_class: int, steps: int, seed: int = 0,
            test_limit: int | None = LIVE_TEST_DIGITS, progress: Progress | None = None) -> dict:
    """The three classifiers of one run: real only, real + cGAN, cGAN only, on the same test digits.

    ``seed`` draws the real digits, the cGAN's noise, and each classifier's initial weights and batches (the
    same for the three, so they differ only in their training digits). Returns {"real", "real+gan", "gan"}:
    each train_and_test's dict, plus the settings and the test set's size.
    """
    real_per_class, gan_per_class, steps, seed = check_live_settings(real_per_class, gan_per_class, steps, seed)
    with one_torch_thread():
        return _compare(digits, pipe, real_per_class, gan_per_class, steps, seed, test_limit,
                        progress or (lambda fraction, message: None))


def _compare(digits: HeldOutDigits, pipe, real_per_class: int, gan_per_class: int, steps: int, seed: int,
             test_limit: int | None, say: Progress) -> dict:
    say(0.0, "Reading the held-out test digits")
    test_images, test_labels = digits.test(test_limit)
    say(0.02, f"Drawing {real_per_class} real digits per class")
    real_images, real_labels = digits.real(real_per_class, seed)
    say(0.04, f"Generating {gan_per_class} cGAN digits per class")
    gan_images, gan_labels = generate(pipe, gan_per_class, seed)
    sets = {"real": (real_images, real_labels),
            "real+gan": (torch.cat([real_images, gan_images]), torch.cat([real_labels, gan_labels])),
            "gan": (gan_images, gan_labels)}
    result = {"real_per_class": real_per_class, "gan_per_class": gan_per_class, "steps": steps, "seed": seed,
              "num_test": len(test_labels), "holdout": digits.holdout, "holdout_seed": digits.holdout_seed}
    for i, (arm, (images, labels)) in enumerate(sets.items()):
        def tick(step, i=i, arm=arm):
            say(0.1 + 0.9 * (i + step / steps) / len(sets), f"{ARMS[arm]}: step {step}/{steps}")

        result[arm] = train_and_test(images, labels, test_images, test_labels, steps, seed, digits.num_classes,
                                     progress=tick)
    return result


# ----------------------------------------------------------------------------- the multi-seed table
def summary(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation, min and max of accuracies, in %."""
    v = np.asarray(values, dtype=float) * 100
    return {"mean": round(float(v.mean()), 2), "std": round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 2),
            "min": round(float(v.min()), 2), "max": round(float(v.max()), 2), "runs": len(v)}


def measure(digits: HeldOutDigits, pipe, real_counts: Sequence[int], gan_counts: Sequence[int], steps: int,
            seeds: Sequence[int], all_real: bool = True, log: Callable[[str], None] = print) -> dict:
    """Every arm over ``seeds`` on all the held-out digits: real only with each of ``real_counts`` per class, the same
    plus each of ``gan_counts`` cGAN digits per class, cGAN only, and real only with each of ``gan_counts`` per class
    (what the GAN-train score is read against). Returns per-seed accuracies and their summaries.

    A seed draws the real digits, the cGAN's noise (a smaller count's cGAN digits are the first of the largest
    count's) and the classifiers' start, the same for every arm. ``all_real``: also train on all the rows the cGAN
    trained on (for MNIST 50,000), what this classifier reaches with every real digit at the same steps."""
    test_images, test_labels = digits.test()
    rows: dict[str, list[float]] = {}
    everything = (digits.decode(digits.pool), digits.labels[digits.pool]) if all_real else None
    for seed in seeds:
        most_gan = generate(pipe, max(gan_counts), seed)
        per_class = max(gan_counts)
        sets = {}
        for n in gan_counts:
            keep = (torch.arange(len(most_gan[1])) % per_class) < n  # the first n of each class
            gan = most_gan[0][keep], most_gan[1][keep]
            sets[f"gan {n}"] = gan
            sets[f"real {n}"] = digits.real(n, seed)
            for k in real_counts:
                real = digits.real(k, seed)
                sets[f"real {k}"] = real
                sets[f"real {k} + gan {n}"] = torch.cat([real[0], gan[0]]), torch.cat([real[1], gan[1]])
        if everything is not None:
            sets["real all"] = everything
        for name, (images, labels) in sets.items():
            acc = train_and_test(images, labels, test_images, test_labels, steps, seed, digits.num_classes,
                                 eval_points=1)["accuracy"]  # the final accuracy only: 10,000 test digits
            rows.setdefault(name, []).append(acc)
            log(f"seed {seed}: {name}: {acc * 100:.2f}%")
    return {"per_seed": rows, "summary": {name: summary(v) for name, v in rows.items()}}


def markdown_table(result: dict) -> str:
    """Two tables: real digits with and without cGAN digits; cGAN only (GAN-train) beside as many real digits."""
    s, settings = result["summary"], result["settings"]
    cell = lambda name: f"{s[name]['mean']:.2f} ± {s[name]['std']:.2f}"  # noqa: E731
    gans = settings["gan_counts"]
    def mixed(k, n):  # mean ± std, and the change of the mean from real only
        return f"{cell(f'real {k} + gan {n}')} ({s[f'real {k} + gan {n}']['mean'] - s[f'real {k}']['mean']:+.2f})"

    lines = ["| real digits per class | real only | " + " | ".join(f"+ {n} cGAN per class" for n in gans) + " |",
             "|---" * (2 + len(gans)) + "|"]
    for k in settings["real_counts"]:
        lines.append(f"| {k} | {cell(f'real {k}')} | " + " | ".join(mixed(k, n) for n in gans) + " |")
    lines += ["", "| digits per class | cGAN only (GAN-train) | real only |", "|---|---|---|"]
    lines += [f"| {n} | {cell(f'gan {n}')} | {cell(f'real {n}')} |" for n in gans]
    if "real all" in s:
        lines.append(f"| all {settings['train_rows']:,} training rows | | {cell('real all')} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=LOCAL_MNIST, help=f"MNIST: folder or Hub id (default {LOCAL_MNIST})")
    parser.add_argument("--weights", default=None, help="the cGAN: folder or Hub repo id (default: embedded weights)")
    parser.add_argument("--real", type=int, nargs="+", default=list(REAL_CHOICES), help="real digits per class")
    parser.add_argument("--gan", type=int, nargs="+", default=[100, 500], help="cGAN digits per class")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="training steps of each classifier")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="write <out>.json and <out>.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ..hub.weights_source import load_demo
    from ..registry import DEMOS

    demo = DEMOS["digits"]
    pipe = load_demo(demo, args.weights, use_hub=False).pipeline
    holdout, holdout_seed, split_from = cgan_holdout(args.weights or demo.embedded)
    digits = HeldOutDigits.load(args.dataset, holdout=holdout, holdout_seed=holdout_seed)
    t0 = time.perf_counter()
    result = measure(digits, pipe, args.real, args.gan, args.steps, range(args.seeds))
    weights = args.weights or f"embedded (gan_models/weights/{demo.name})"
    result["settings"] = {"dataset": args.dataset, "weights": weights,
                          "real_counts": args.real, "gan_counts": args.gan, "steps": args.steps,
                          "seeds": args.seeds, "threads": args.threads, "batch_size": BATCH_SIZE,
                          "learning_rate": LEARNING_RATE, "max_shift": MAX_SHIFT, "test_digits": len(digits.held),
                          "train_rows": len(digits.pool),
                          "holdout": holdout, "holdout_seed": holdout_seed, "split_from": split_from,
                          "seconds": round(time.perf_counter() - t0, 1)}
    table = markdown_table(result)
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.json").write_text(json.dumps(result, indent=1) + "\n")
        Path(f"{args.out}.md").write_text(table)


if __name__ == "__main__":
    main()
