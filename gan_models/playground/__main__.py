"""Train the vanilla GAN on 2-D toy data from the command line; print its mode coverage.

    python -m gan_models.playground --target ring --loss ns --steps 2000 --seed 0 --out ring_ns.png
    python -m gan_models.playground --target grid --loss wgan-gp --d_steps 5 --lr_g 1e-4 --lr_d 1e-4

Prints the mode-coverage metrics and writes a PNG of the final frame (decision surface, real
and fake points, G's gradients, loss curves).
"""

from __future__ import annotations

import argparse
import json

import torch

from ..core.checks import InputError
from .render import render
from .toy_gan import LOSSES, TARGETS, ToyGAN


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description="Train the vanilla GAN on 2-D toy data; print mode coverage.")
    parser.add_argument("--target", default="ring", choices=[t for t in TARGETS if t != "custom"])
    parser.add_argument("--loss", default="ns", choices=list(LOSSES))
    parser.add_argument("--steps", type=int, default=2000, help="generator updates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr_g", type=float, default=1e-3)
    parser.add_argument("--lr_d", type=float, default=1e-3)
    parser.add_argument("--d_steps", type=int, default=1, help="D updates per G update")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--samples", type=int, default=2500, help="samples for the coverage metric")
    parser.add_argument("--out", default=None, help="PNG of the final frame")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny networks: more threads only add overhead
    try:
        gan = ToyGAN(args.target, args.loss, args.lr_g, args.lr_d, args.d_steps, args.width, args.seed,
                     batch_size=args.batch_size)
    except InputError as err:
        parser.error(str(err))
    gan.step(args.steps)
    result = {"target": args.target, "loss": args.loss, "steps": gan.steps, "seed": args.seed,
              "d_loss": round(gan.d_losses[-1], 4), "g_loss": round(gan.g_losses[-1], 4)}
    if gan.centres is not None:
        result.update(gan.coverage(args.samples))
        print(f"modes covered: {result['modes_covered']}/{result['num_modes']}, "
              f"high-quality samples: {100 * result['high_quality']:.1f}% (of {args.samples})")
    if args.out:
        render(gan).save(args.out)
        print(f"wrote {args.out}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
