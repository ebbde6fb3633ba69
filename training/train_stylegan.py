"""Train the style-based faces generator (gan_models/faces/stylegan.py) against a projected discriminator.

    accelerate launch training/train_stylegan.py --dataset ../shared/data/celeba-faces-64 --output_dir runs/style-faces
    python training/train_stylegan.py --dataset huggan/CelebA-faces --output_dir runs/style-faces --mixed_precision bf16
    python training/train_stylegan.py ... --resume_from_checkpoint latest          # carry on after a stop
    python training/train_stylegan.py ... --resume_from_weights gan_models/weights/style_faces   # from the folder: G, D

StyleGAN2's generator (mapping network, learned constant, modulated and demodulated convolutions,
per-layer noise, skip ToRGB outputs) against Projected GAN's discriminator: small heads on the
four feature maps of a frozen ImageNet EfficientNet-Lite0 (gan_models/feature_networks.py),
which sees the faces resized to ``--feature_size``. Each step:

- one batch of fakes, from z's of which ``--style_mixing`` (0.9) swap to a second z's w at a
  random layer (style-mixing regularisation: neighbouring layers must not rely on sharing a w);
- D: hinge loss, real up and fake (detached) down, on DiffAugment'ed pictures (colour,
  translation, cutout: the same ops on both, differentiable, so G learns through them);
- G: the hinge generator loss on the same fakes, through the frozen feature network;
- the EMA generator follows G; the mapping network tracks the mean w that truncation pulls toward.

No gradient penalty: a projected D's heads are spectrally normalised and its features fixed
(Projected GAN needs none). ``--eval_steps`` scores the EMA generator's faces (Inception FID/KID)
against ``--holdout`` faces never trained on and keeps the best, which is what is saved at the
end; the held-out set is the same 1,000 rows (seed 0) as the DCGAN's. The FID is flattered by
D's ImageNet features: judge the result in dlib's face space too (gan_models/judges/face_eval.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from augment import diff_augment  # noqa: E402
from gan_models.data import holdout_split, load_image_tensor, to_float  # noqa: E402
from gan_models.faces.style_pipeline import StyleFacesPipeline  # noqa: E402
from gan_models.faces.stylegan import ProjectedFacesDiscriminator, StyleGenerator  # noqa: E402
from gan_models.feature_networks import EfficientNetLite0Features, FeatureNetworkError  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(parser, run_name="style-faces", dataset="huggan/CelebA-faces",
                           local_dataset="../shared/data/celeba-faces-64", batch_size=32, max_steps=100_000, lr=2e-4)
    # Adam betas (0, 0.99) as StyleGAN2 and Projected GAN; G's weights are stored at unit scale (equalised learning
    # rate), so its 2e-3 moves them relatively less than 2e-4 moves the D heads' ordinary weights
    parser.set_defaults(lr_g=2e-3, lr_d=2e-4, beta1=0.0, beta2=0.99)
    a = parser.add_argument
    a("--image_column", default="image")
    a("--latent_dim", type=int, default=256)
    a("--w_dim", type=int, default=256)
    a("--mapping_layers", type=int, default=4)
    a("--channel_base", type=int, default=2048, help="width at resolution r is min(channel_max, channel_base / r)")
    a("--channel_max", type=int, default=256)
    a("--style_mixing", type=float, default=0.9, help="share of fakes drawn from two w's (0: off)")
    a("--feature_size", type=int, default=128, help="faces are resized to this for the feature network")
    a("--head_width", type=int, default=128, help="channels of each scale's head")
    a("--diffaugment", default="color,translation,cutout", help="DiffAugment policy ('' for none)")
    a("--no-flip", dest="flip", action="store_false", help="no random horizontal flips of the reals")
    a("--eval_steps", type=int, default=0,
      help="every N steps (and at the end): FID/KID of --eval_samples EMA faces against the --holdout rows; the "
           "best is kept in best_generator/ and is the one saved at the end")
    a("--eval_samples", type=int, default=1000)
    return parser.parse_args(argv)


def main(args) -> Path:
    # ---- data first (nothing is written before it loads): decoded once to uint8, minus the held-out rows
    with common.dataset_errors(args):
        images = load_image_tensor(args.dataset, args.image_column, 64, "RGB", args.split, args.dataset_config,
                                   max_rows=args.max_rows)
    accelerator = common.make_accelerator(args, "stylegan")
    device = accelerator.device
    train_idx, held_idx = holdout_split(len(images), args.holdout, args.holdout_seed)
    if args.eval_steps and not args.holdout:
        raise SystemExit("error: --eval_steps needs held-out rows to compare against: add --holdout 1000")
    judge = (common.FIDJudge(images[held_idx], args, StyleFacesPipeline)
             if args.eval_steps and accelerator.is_main_process else None)
    data = common.InMemoryBatches(images[train_idx], batch_size=args.batch_size, seed=args.seed,
                                  process_index=accelerator.process_index, num_processes=accelerator.num_processes)
    accelerator.print(f"{len(train_idx)} training images ({args.holdout} held out), {data.steps_per_epoch} steps/epoch")

    # ---- models: G, the projected D, the frozen feature network D reads through
    try:
        features = EfficientNetLite0Features(args.feature_size).to(device)
    except FeatureNetworkError as err:
        raise SystemExit(f"error: {err}") from None
    G = StyleGenerator(args.latent_dim, args.w_dim, args.mapping_layers, args.channel_base, args.channel_max)
    D = ProjectedFacesDiscriminator(features.channels, [args.feature_size // s for s in (4, 8, 16, 32)],
                                    head_width=args.head_width)
    # channels-last: the feature network and D's heads compute in oneDNN's layout; G in it too saves a layout copy
    # around every upsampling and convolution (benchmarks/results/profile_stylegan_step.json)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    G, D, D_plain, opt_g, opt_d, ema, state = common.prepare_gan(accelerator, args, G, D)

    augment = (lambda x: diff_augment(x, args.diffaugment)) if args.diffaugment else (lambda x: x)

    def seen_by_d(images, grad: bool):
        """The frozen network's four feature maps of the augmented pictures (with a graph to the pictures if grad)."""
        with torch.set_grad_enabled(grad), accelerator.autocast():
            return features(augment(images))

    def real_batch(step):
        (real,) = data.batch(step)
        real = to_float(real.to(device))
        if args.flip:
            real = torch.where(torch.rand(real.shape[0], 1, 1, 1, device=device) < 0.5, real.flip(3), real)
        return real

    sample_noise = common.fixed_noise(64, args.latent_dim).to(device)
    log = common.MetricLog(accelerator, args.output_dir, args.max_steps, state.step)
    deadline = common.Deadline(args.max_minutes, accelerator)
    G.train(); D.train()
    while state.step < args.max_steps and not deadline.reached(state.step):
        step = state.step
        real = real_batch(step)
        n = real.shape[0]

        # ---- one batch of fakes per step, some of them style-mixed; D sees it detached, G learns from it
        g_now = step >= args.d_warmup_steps  # (G waits while a fresh D catches up, if asked)
        z, z_mix = torch.randn(2, n, args.latent_dim, device=device)
        cutoff = torch.randint(1, G_num_ws(G), (n,), device=device)        # mixed samples: w2 from this layer on
        cutoff = torch.where(torch.rand(n, device=device) < args.style_mixing, cutoff, G_num_ws(G))
        with torch.set_grad_enabled(g_now), accelerator.autocast():
            fake = G(z, mix_noise=z_mix, mix_cutoff=cutoff).float()
        real_seen = seen_by_d(real, grad=False)
        fake_seen = seen_by_d(fake, grad=g_now)

        # ---- discriminator: hinge, real up, fake down
        with accelerator.autocast():
            real_logits = D(real_seen)
            fake_logits = D([f.detach() for f in fake_seen])
        d_loss = F.relu(1 - real_logits.float()).mean() + F.relu(1 + fake_logits.float()).mean()
        opt_d.zero_grad(set_to_none=True)
        accelerator.backward(d_loss)
        opt_d.step()

        # ---- generator: fakes that D scores as real
        g_logs = {}
        if g_now:
            D_plain.requires_grad_(False)
            with accelerator.autocast():
                g_loss = -D_plain(fake_seen).float().mean()
            opt_g.zero_grad(set_to_none=True)
            accelerator.backward(g_loss)
            opt_g.step()
            D_plain.requires_grad_(True)
            ema.update(accelerator.unwrap_model(G))
            g_logs = {"g_loss": g_loss}

        state.step += 1
        log.add(n, d_loss=d_loss, **g_logs, real_logit=real_logits.detach(), fake_logit=fake_logits.detach())
        if state.step % args.log_steps == 0:
            log.flush(state.step)
        if state.step % args.sample_steps == 0 or state.step == args.max_steps:
            save_samples(accelerator, ema, sample_noise, args, state.step)
        if state.step % args.checkpointing_steps == 0 or state.step == args.max_steps:
            common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
        if args.snapshot_steps and state.step % args.snapshot_steps == 0:
            common.save_snapshot(lambda: StyleFacesPipeline(ema.model), args.output_dir, state.step, accelerator)
        if judge and state.step % args.eval_steps == 0 and state.step != args.max_steps:
            judge.measure(ema, D_plain, state.step, accelerator)
        accelerator.wait_for_everyone()
        if args.push_to_hub and args.push_every_steps and state.step % args.push_every_steps == 0:
            finish(accelerator, ema, D_plain, state.step, args, judge, push=True)

    if state.step % args.checkpointing_steps and state.step != args.max_steps:  # stopped by --max_minutes
        common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
    return finish(accelerator, ema, D_plain, state.step, args, judge, push=args.push_to_hub)


def G_num_ws(G) -> int:
    return G.module.num_ws if hasattr(G, "module") else G.num_ws


def save_samples(accelerator, ema, noise, args, step):
    if accelerator.is_main_process:
        with torch.no_grad():
            grid = common.image_grid(ema.model(noise, noise_mode="const").clamp(-1, 1), nrow=8)
        path = Path(args.output_dir) / "samples" / f"step-{step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        grid.save(path)
    accelerator.wait_for_everyone()


def finish(accelerator, ema, D, step, args, judge, push: bool) -> Path:
    """Save the pipeline around the EMA generator (with --eval_steps, the best one by FID) with its D, samples and a
    model card; push if asked. ``--resume_from_weights`` continues from this folder."""
    folder = Path(args.output_dir) / "pipeline"
    if accelerator.is_main_process:
        generator, best = ema.model, None
        if judge:
            final = judge.measure(ema, D, step, accelerator)
            best = judge.best
        kept = judge.best_dir if best and best["step"] != final["step"] else None  # an earlier G (and its D) won
        common.final_folder(args.output_dir, lambda: StyleFacesPipeline(generator), discriminator=D, step=step,
                            ema_updates=int(ema.num_updates), kept=kept)
        if kept:
            generator = StyleGenerator.load_strict(common.generator_folder(folder)).to(accelerator.device)
        with torch.no_grad():
            common.image_grid(generator(common.fixed_noise(64, args.latent_dim).to(accelerator.device),
                                        noise_mode="const").clamp(-1, 1), nrow=8).save(folder / "samples.png")
        write_card(folder, args, int(ema.num_updates), best)
        if push:
            common.push_folder(folder, args, commit_message=f"EMA generator at step {int(ema.num_updates)}",
                               remote_module=StyleFacesPipeline.remote_module)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return folder


def write_card(folder, args, num_updates: int, best: dict | None, location: str | None = None,
               extra: str = "") -> Path:
    """The model card (README.md) of a pipeline folder: what was trained how, and its best FID/KID (``best``, the
    FIDJudge's record, or None); ``location``: the folder or repo id the usage lines load (default: the Hub id, else
    ``folder``); ``extra``: more measured figures. ``export_stylegan.py`` writes it for a ``best_generator`` too."""
    location = location or args.hub_model_id or str(folder)
    metrics, note = None, ""
    if best:
        metrics = {"fid": best["fid"], "kid": best["kid"]}
        note = (f"FID and KID (standard Inception-v3 features) of {best['num_fake']} generated faces (psi 1) "
                f"against {best['num_real']} faces held out from training (--holdout {args.holdout}, seed "
                f"{args.holdout_seed}), at step {best['step']}, the best of the evaluations every "
                f"{args.eval_steps} steps. The discriminator sees ImageNet features, which flatter Inception "
                "FID: see the face-space score in the gallery's README.")
    return common.write_model_card(
        folder, title="Style-based faces (GAN Gallery)", pipeline_tag="unconditional-image-generation",
        dataset=args.dataset, license="other", tags=["stylegan2", "projected-gan", "unconditional-image-generation"],
        description=(f"A StyleGAN2-style generator (64x64; mapping network of {args.mapping_layers} layers, "
                     f"z and w of {args.latent_dim}/{args.w_dim}, modulated and demodulated convolutions, "
                     f"per-layer noise, skip ToRGB outputs) trained {num_updates} steps of batch "
                     f"{args.batch_size} on `{args.dataset}` against a projected discriminator (Projected GAN: "
                     f"heads on a frozen ImageNet EfficientNet-Lite0's features at {args.feature_size}x"
                     f"{args.feature_size}), hinge loss, DiffAugment ({args.diffaugment}) and style-mixing "
                     f"regularisation ({args.style_mixing}); the weights are the EMA generator's, and "
                     "`discriminator/` holds its D (training continues from this folder with "
                     "`--resume_from_weights`). CelebA is for non-commercial research use only."),
        metrics=metrics, metrics_note=note, extra=extra,
        usage=("from diffusers import DiffusionPipeline\n"
               f"pipe = DiffusionPipeline.from_pretrained(\"{location}\", trust_remote_code=True)  "
               "# runs style_faces_gan.py\n"
               "images = pipe(seeds=range(16), truncation=0.7).images\n"
               "mixed = pipe.style_mix([0, 1], [2, 3], [\"coarse\"]).grid      # StyleGAN's mixing figure\n"
               "edited = pipe.edit(seeds=[0], strengths={0: 2.0}).images      # pipe.edits: the named directions\n"
               "# with the gallery installed: gan_models.faces.style_pipeline.StyleFacesPipeline.from_pretrained"),
    )


if __name__ == "__main__":
    main(parse_args())
