"""Are EfficientNet-Lite0's ImageNet features sensible on our birds? A linear probe says.

    python benchmarks/probe_feature_network.py --threads 1     # ~3 min on one CPU thread

The frozen network (gan_models/feature_networks.py) embeds the birds of the training species
(130 of the 150; the 20 held-out species are not touched), each map average-pooled and
concatenated (24 + 40 + 112 + 320 = 496 numbers); a linear classifier (softmax regression,
full-batch L-BFGS) learns the species from 80% of each species' crops and is scored on the
other 20%. The same with the same network at random weights (the architecture alone) and
with raw pixels pooled to 8x8 is the floor. If the ImageNet weights were loaded wrongly
(wrong keys, wrong input scale), their probe would be near the floor.
Writes benchmarks/results/feature_probe.json.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_models.judges.birds_eval import centre  # noqa: E402
from gan_models.birds.captions import holdout_classes, load_captioned  # noqa: E402
from gan_models.data import to_float  # noqa: E402
from gan_models.feature_networks import EfficientNetLite0Features  # noqa: E402


@torch.inference_mode()
def embed(net, images: torch.Tensor, batch: int = 100) -> torch.Tensor:
    out = []
    for b in images.split(batch):
        maps = net(to_float(b))
        out.append(torch.cat([m.float().mean((2, 3)) for m in maps], 1))
    return torch.cat(out)


def probe(x_train, y_train, x_test, y_test, num_classes: int, weight_decay: float = 1e-3) -> float:
    """Softmax regression on standardised features; accuracy on the test rows."""
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    w = torch.zeros(x_train.shape[1], num_classes, requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=300, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x_train @ w + b, y_train) + weight_decay * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((x_test @ w + b).argmax(1) == y_test).float().mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared" / "data" / "cub-birds"))
    parser.add_argument("--feature_size", type=int, default=128, help="as train_text2img.py --feature_size")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "feature_probe.json"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_captioned(args.dataset, size=72)
    train_rows, _, held = holdout_classes(data.labels, 20, 0)
    images, labels = centre(data.images[train_rows]), data.labels[train_rows]
    classes = np.unique(labels)
    y = torch.from_numpy(np.searchsorted(classes, labels))
    rng = np.random.default_rng(0)
    test = np.zeros(len(y), dtype=bool)
    for c in range(len(classes)):  # 20% of every species
        rows = np.flatnonzero(y.numpy() == c)
        test[rng.choice(rows, max(1, len(rows) // 5), replace=False)] = True
    test = torch.from_numpy(test)
    result = {"dataset": args.dataset, "species": len(classes), "train_rows": int((~test).sum()),
              "test_rows": int(test.sum()), "chance": round(1 / len(classes), 4), "feature_size": args.feature_size}
    torch.manual_seed(0)
    nets = {"imagenet": EfficientNetLite0Features(args.feature_size),
            "random_weights": EfficientNetLite0Features(args.feature_size, pretrained=False)}
    for name, net in nets.items():
        t0 = time.perf_counter()
        x = embed(net, images)
        result[f"{name}_accuracy"] = round(probe(x[~test], y[~test], x[test], y[test], len(classes)), 4)
        result[f"{name}_seconds"] = round(time.perf_counter() - t0, 1)
        print(name, result[f"{name}_accuracy"], flush=True)
    pixels = F.adaptive_avg_pool2d(to_float(images), 8).flatten(1)
    result["pixels_8x8_accuracy"] = round(probe(pixels[~test], y[~test], pixels[test], y[test], len(classes)), 4)
    print(json.dumps(result, indent=1))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
