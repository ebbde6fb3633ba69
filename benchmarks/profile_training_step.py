"""Where one training step of the style-based faces goes: torch.profiler over train_stylegan.py's step, by part and op.

    OMP_NUM_THREADS=1 python benchmarks/profile_training_step.py --threads 1                 # as trained (channels-last)
    OMP_NUM_THREADS=1 python benchmarks/profile_training_step.py --threads 1 --layout nchw   # G and D as before

The step is train_stylegan.py's, on the script's default networks (G, the projected D, the frozen
EfficientNet-Lite0 at 128x128), batch 32, bf16 autocast, DiffAugment, on random pictures: G's forward
(style-mixed), the feature network on the reals and the fakes, D's forward and backward, D on the fakes
for G, and G's backward through the feature network. Each part is a record_function range; the ops are
grouped (convolutions by whose they are: G's, D's heads, the feature network's depthwise and 1x1; layout
and dtype copies; the rest). After ``--warmup`` steps, ``--steps`` steps are profiled. Writes
results/profile_stylegan_step[_<layout>].json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from timing import RESULTS, machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

PARTS = ["G forward", "features of the reals", "features of the fakes", "D forward", "D backward", "D for G",
         "G backward through the features"]


def group(op: str, weight_shape) -> str:
    """Which kind of work an op is, from its name and (for a convolution) its weight's shape."""
    if op in ("aten::copy_", "aten::_to_copy", "aten::contiguous", "aten::clone"):
        return "layout and dtype copies"
    if op not in ("aten::mkldnn_convolution", "aten::convolution_backward"):
        return "other ops (mul, add, upsample, activations, optimiser, ...)"
    if len(weight_shape) == 4 and weight_shape[1] == 1:
        return "convolutions: feature network, depthwise"
    if len(weight_shape) == 4 and weight_shape[2] == 4:
        return "convolutions: D's heads (4x4, stride 2)"
    if len(weight_shape) == 4 and weight_shape[2] == 1 and weight_shape[0] in (16, 24, 40, 80, 112, 192, 320, 96, 144,
                                                                              240, 480, 672, 1152, 32):
        return "convolutions: feature network, 1x1"
    return "convolutions: G, D's other layers, stems"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", default="channels_last", choices=["channels_last", "nchw"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from augment import diff_augment
    from gan_models.faces.stylegan import ProjectedFacesDiscriminator, StyleGenerator
    from gan_models.feature_networks import EfficientNetLite0Features

    torch.manual_seed(0)
    features = EfficientNetLite0Features(128)
    G, D = StyleGenerator().train(), ProjectedFacesDiscriminator(features.channels, (32, 16, 8, 4)).train()
    if args.layout == "channels_last":
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(G.parameters(), 2e-3, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.0, 0.99))
    real = torch.rand(args.batch, 3, 64, 64) * 2 - 1
    bf16 = dict(device_type="cpu", dtype=torch.bfloat16)
    policy = "color,translation,cutout"
    rf = torch.profiler.record_function

    def step():
        n = args.batch
        z, z_mix = torch.randn(2, n, G.latent_dim)
        cutoff = torch.where(torch.rand(n) < 0.9, torch.randint(1, G.num_ws, (n,)), G.num_ws)
        with torch.autocast(**bf16):
            with rf(PARTS[0]):
                fake = G(z, mix_noise=z_mix, mix_cutoff=cutoff).float()
            with rf(PARTS[1]), torch.no_grad():
                real_seen = features(diff_augment(real, policy))
            with rf(PARTS[2]):
                fake_seen = features(diff_augment(fake, policy))
            with rf(PARTS[3]):
                real_logits, fake_logits = D(real_seen), D([f.detach() for f in fake_seen])
        d_loss = F.relu(1 - real_logits.float()).mean() + F.relu(1 + fake_logits.float()).mean()
        opt_d.zero_grad(set_to_none=True)
        with rf(PARTS[4]):
            d_loss.backward()
        opt_d.step()
        D.requires_grad_(False)
        with torch.autocast(**bf16), rf(PARTS[5]):
            g_loss = -D(fake_seen).float().mean()
        opt_g.zero_grad(set_to_none=True)
        with rf(PARTS[6]):
            g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)

    for _ in range(args.warmup):
        step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        seconds = (time.perf_counter() - t0) / args.steps
    parts = {e.key: round(e.cpu_time_total / 1e6 / args.steps, 3) for e in prof.key_averages() if e.key in PARTS}
    groups: dict[str, float] = {}
    for e in prof.key_averages(group_by_input_shape=True):
        shapes = e.input_shapes or []
        weight = shapes[2] if e.key == "aten::convolution_backward" and len(shapes) > 2 else (
            shapes[1] if e.key == "aten::mkldnn_convolution" and len(shapes) > 1 else [])
        if e.key.startswith("aten::") and e.key not in ("aten::convolution", "aten::_convolution", "aten::conv2d"):
            k = group(e.key, weight)
            groups[k] = groups.get(k, 0.0) + e.self_cpu_time_total / 1e6 / args.steps
    total = sum(groups.values())
    shares = {k: {"seconds": round(v, 3), "share": round(v / total, 3)} for k, v in sorted(groups.items(),
                                                                                          key=lambda kv: -kv[1])}
    result = {"machine": machine(), "layout": args.layout, "batch": args.batch, "threads": args.threads,
              "seconds_per_step_profiled": round(seconds, 2), "images_per_s_profiled": round(args.batch / seconds, 1),
              "parts_seconds_per_step": parts, "ops_by_kind_self_seconds_per_step": shares}
    print(json.dumps(result, indent=1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"profile_stylegan_step_{args.layout}.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
