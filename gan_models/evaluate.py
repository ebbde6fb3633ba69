"""Measure a demo's model against held-out real data: ``python -m gan_models.evaluate faces``.

    python -m gan_models.evaluate faces --dataset ../shared/data/celeba-faces-64 --num_samples 1000
    python -m gan_models.evaluate faces --weights runs/faces/generator --out results/faces

Faces: FID and KID between generated faces and the faces the training held out
(``--holdout`` rows drawn at random from ``--holdout_seed``, the same split as
training/train_dcgan.py). Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from .data import holdout_split, load_image_tensor, to_uint8
from .metrics import InceptionFeatures, cached_features, fid_kid
from .registry import DEMOS
from .weights_source import load_demo


def real_holdout(dataset: str, holdout: int, seed: int, size: int = 64) -> torch.Tensor:
    images = load_image_tensor(dataset, "image", size, "RGB")
    _, held = holdout_split(len(images), holdout, seed)
    return images[held]


def generate_uint8(pipe, num: int, seed_offset: int = 10_000_000, truncation: float = 1.0, batch: int = 250):
    """``num`` samples of an unconditional pipeline from seeds outside the app's usual range."""
    out = []
    for start in range(0, num, batch):
        seeds = list(range(seed_offset + start, seed_offset + min(num, start + batch)))
        out.append(to_uint8(pipe(seeds=seeds, truncation=truncation, output_type="pt").images))
    return torch.cat(out)


def evaluate_faces(pipe, dataset: str, num_samples: int, holdout: int = 1000, holdout_seed: int = 0,
                   truncation: float = 1.0, features=None) -> dict:
    features = features or InceptionFeatures()
    key = f"{Path(dataset).name}-holdout{holdout}-seed{holdout_seed}-{features.name}"
    real = cached_features(key, lambda: features(real_holdout(dataset, holdout, holdout_seed)))
    fake = features(generate_uint8(pipe, num_samples, truncation=truncation))
    return {"demo": "faces", "dataset": dataset, "truncation": truncation, **fid_kid(real, fake)}


def to_markdown(result: dict) -> str:
    keys = [k for k in result if k not in ("demo", "dataset")]
    return ("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n| "
            + " | ".join(str(result[k]) for k in keys) + " |\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("demo", choices=sorted(DEMOS))
    parser.add_argument("--weights", default=None, help="folder or Hub repo id (default: embedded weights)")
    parser.add_argument("--dataset", default="../shared/data/celeba-faces-64")
    parser.add_argument("--num_samples", type=int, default=1000)
    parser.add_argument("--holdout", type=int, default=1000)
    parser.add_argument("--holdout_seed", type=int, default=0)
    parser.add_argument("--truncation", type=float, default=1.0)
    parser.add_argument("--out", default=None, help="write <out>.json and <out>.md")
    args = parser.parse_args(argv)
    pipe = load_demo(DEMOS[args.demo], args.weights, use_hub=False).pipeline
    t0 = time.perf_counter()
    result = evaluate_faces(pipe, args.dataset, args.num_samples, args.holdout, args.holdout_seed, args.truncation)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n")
        Path(f"{args.out}.md").write_text(to_markdown(result))


if __name__ == "__main__":
    main()
