"""Training throughput (images/s) of the DCGAN-64 loop on this CPU, variants side by side in one run.

    python benchmarks/bench_training.py [--steps 30] [--batch_size 64]

"textbook" is the loop as the HugGAN sprint ships it: the paper's network (latent 100,
BatchNorm D), BCE, NCHW float batches, and a host sync (`.item()`) every step. The
other rows change one thing at a time on the same network, then the gallery's recipe
(latent 128, DiffAugment colour + translation, channels-last, fp32) is timed as train_dcgan.py runs it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from timing import report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from augment import diff_augment  # noqa: E402
from gan_models.faces.dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from gan_models.losses import discriminator_loss, generator_loss, r1_penalty  # noqa: E402


def run(variant: str, steps: int, batch: int, warmup: int = 3) -> float:
    torch.manual_seed(0)
    latent = 100 if variant != "gallery recipe" else 128
    G = DCGANGenerator(latent_dim=latent)
    D = DCGANDiscriminator(spectral=False)
    channels_last = variant in ("+ channels_last", "+ channels_last + bf16", "gallery recipe")
    bf16 = variant == "+ channels_last + bf16"
    sync = variant == "textbook"
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    data = torch.randint(0, 256, (batch * 4, 3, 64, 64), dtype=torch.uint8)
    augment = (lambda x: diff_augment(x, "color,translation")) if variant == "gallery recipe" else (lambda x: x)
    losses = []
    t0 = None
    for step in range(warmup + steps):
        if step == warmup:
            t0 = time.perf_counter()
        real = data[(step % 4) * batch:(step % 4 + 1) * batch].float().div(127.5).sub(1)
        if channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            with torch.no_grad():
                fake = G(torch.randn(batch, latent))
            r1 = False  # the gallery's defaults leave R1 off (--r1_gamma 0)
            real_in = augment(real).detach().requires_grad_(r1)
            real_logits, fake_logits = D(real_in), D(augment(fake))
            d_loss = discriminator_loss("ns", real_logits.float(), fake_logits.float())
            if r1:
                d_loss = d_loss + 0.05 * 16 * r1_penalty(real_logits, real_in)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        D.requires_grad_(False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            g_loss = generator_loss("ns", D(augment(G(torch.randn(batch, latent)))).float())
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
        losses.append(d_loss.item() + g_loss.item() if sync else d_loss.detach())
    elapsed = time.perf_counter() - t0
    return batch * steps / elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch_size", type=int, default=64)
    args = parser.parse_args()
    variants = ["textbook", "no per-step sync", "+ channels_last", "+ channels_last + bf16", "gallery recipe"]
    rows, base = [], None
    for v in variants:
        ips = run(v, args.steps, args.batch_size)
        base = base or ips
        rows.append({"variant": v, "images/s": round(ips, 1), "vs textbook": round(ips / base, 2),
                     "batch": args.batch_size, "steps": args.steps})
    report("training_dcgan", rows)


if __name__ == "__main__":
    main()
