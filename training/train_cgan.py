"""Train a label-conditioned GAN on small labelled images (MNIST digits by default).

    python training/train_cgan.py --dataset ../shared/data/mnist --output_dir runs/digits \\
        --classifier runs/mnist_classifier/classifier --holdout 10000
    python training/train_cgan.py --dataset zalando-datasets/fashion_mnist --output_dir runs/fashion  # any ClassLabel set
    python training/train_cgan.py ... --resume_from_checkpoint latest      # carry on after a stop

G gets the label as an embedding and through conditional BatchNorm; D through a projection
(see gan_models/digits/cgan.py). Loss: hinge by default, and three terms that trade label
obedience against variety within a class (what we saw on MNIST, 1,000-6,000 steps):

- ``--aux_weight``: a class loss on D's features, learned on the reals only: D's features
  become class-aware sooner, which sharpens the projection.
- ``--aux_weight_g``: G is pushed towards what that class head recognises (AC-GAN, Odena
  et al. 2017). At 0.5 alone: 100% label accuracy, but one digit per class whatever the noise.
- ``--mode_seeking`` (MSGAN, Mao et al. 2019): two noises with the same label must give two
  different digits, in proportion to how different the noises are. Without it (projection +
  D's class loss only) G also ignored the noise; at 1.0 it ignored the label instead.
  0.2 with ``--aux_weight_g 0.1`` gave both: the labels obeyed and the variety of real digits.
With ``--classifier`` (a folder from train_mnist_classifier.py) the EMA generator is judged
every ``--eval_steps``: label accuracy of ``--eval_samples`` digits, and FID in the
classifier's feature space against the held-out rows; the best by accuracy (ties: lower
FID) is kept and is what ``generator/`` holds at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from gan_models.digits.cgan import CGANDiscriminator, CGANGenerator  # noqa: E402
from gan_models.digits.pipeline import CGANPipeline  # noqa: E402
from gan_models.data import holdout_split, load_labelled_tensors, to_float  # noqa: E402
from gan_models.losses import LOSSES, discriminator_loss, generator_loss  # noqa: E402
from gan_models.judges.mnist_classifier import MNISTClassifier, classifier_features, feature_spread, label_accuracy  # noqa: E402
from gan_models.judges.metrics import frechet_distance  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(parser, run_name="digits", dataset="ylecun/mnist",
                           local_dataset="../shared/data/mnist", batch_size=64, max_steps=6000, lr=2e-4)
    a = parser.add_argument
    a("--image_column", default="image")
    a("--label_column", default="label")
    a("--num_classes", type=int, default=None, help="default: the label column's ClassLabel names (else max + 1)")
    a("--resolution", type=int, default=28, choices=[28, 32])
    a("--channels", type=int, default=1, choices=[1, 3], help="1: grayscale, 3: RGB")
    a("--latent_dim", type=int, default=64)
    a("--g_channels", type=int, default=32)
    a("--d_channels", type=int, default=32)
    a("--loss", default="hinge", choices=LOSSES)
    a("--aux_weight", type=float, default=0.5, help="weight of D's class loss on the reals (0: off)")
    a("--aux_weight_g", type=float, default=0.1,
      help="weight of G's class loss on the fakes (AC-GAN uses both; it costs variety within a class)")
    a("--mode_seeking", type=float, default=0.2,
      help="weight of the mode-seeking term (MSGAN): two noises, one label -> two different digits (0: off)")
    a("--classifier", default=None, help="classifier folder: judge label accuracy every --eval_steps")
    a("--eval_steps", type=int, default=500)
    a("--eval_samples", type=int, default=1000)
    a("--final_eval_samples", type=int, default=10_000)
    return parser.parse_args(argv)


class Best:
    """The best evaluation so far (checkpointed, so a resumed run keeps comparing against it)."""

    def __init__(self):
        self.accuracy, self.fid, self.step = -1.0, float("inf"), 0

    def better(self, accuracy: float, fid: float) -> bool:
        return accuracy > self.accuracy or (accuracy == self.accuracy and fid < self.fid)

    def state_dict(self):
        return {"accuracy": self.accuracy, "fid": self.fid, "step": self.step}

    def load_state_dict(self, state):
        self.accuracy, self.fid, self.step = float(state["accuracy"]), float(state["fid"]), int(state["step"])


def main(args) -> Path:
    mode = "L" if args.channels == 1 else "RGB"

    # ---- data first (nothing is written before it loads): images and labels decoded once, minus the held-out rows
    with common.dataset_errors(args):
        images, labels, names = load_labelled_tensors(args.dataset, args.image_column, args.label_column,
                                                      args.resolution, mode, args.split, args.dataset_config,
                                                      args.max_rows)
    accelerator = common.make_accelerator(args, "cgan")
    device = accelerator.device
    num_classes = args.num_classes or (len(names) if names else int(labels.max()) + 1)
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise SystemExit(f"error: labels run {int(labels.min())}..{int(labels.max())}, outside 0..{num_classes - 1}")
    train_idx, held_idx = holdout_split(len(images), args.holdout, args.holdout_seed)
    data = common.InMemoryBatches(images[train_idx], labels[train_idx], batch_size=args.batch_size, seed=args.seed,
                                  process_index=accelerator.process_index, num_processes=accelerator.num_processes)
    accelerator.print(f"{len(train_idx)} training images, {num_classes} classes ({args.holdout} held out), "
                      f"{data.steps_per_epoch} steps/epoch")

    # ---- models and optimizers
    G = CGANGenerator(args.latent_dim, num_classes, args.g_channels, args.resolution, args.channels)
    D = CGANDiscriminator(num_classes, args.d_channels, args.resolution, args.channels)
    best = Best()
    G, D, D_plain, opt_g, opt_d, ema, state = common.prepare_gan(accelerator, args, G, D, best)

    judge = Judge(args, images[held_idx], labels[held_idx], num_classes) if args.classifier and accelerator.is_main_process else None
    log = common.MetricLog(accelerator, args.output_dir, args.max_steps, state.step)

    deadline = common.Deadline(args.max_minutes, accelerator)
    G.train(); D.train()
    while state.step < args.max_steps and not deadline.reached(state.step):
        step = state.step
        real, y = data.batch(step)
        real, y = to_float(real.to(device)), y.to(device)
        n = real.shape[0]

        # ---- discriminator step: (real, its label) up, (fake, the label it was asked for) down
        with torch.no_grad():
            fake = G(torch.randn(n, args.latent_dim, device=device), y)
        real_logits, real_class = D(real, y, return_class_logits=True)
        fake_logits = D(fake, y)
        d_adv = discriminator_loss(args.loss, real_logits, fake_logits)
        d_cls = F.cross_entropy(real_class, y)  # AC-GAN head, learned on the reals only
        d_loss = d_adv + args.aux_weight * d_cls
        opt_d.zero_grad(set_to_none=True)
        accelerator.backward(d_loss)
        opt_d.step()

        # ---- generator step: fakes D calls real *and* of the asked class
        g_logs = {}
        if step >= args.d_warmup_steps:  # (G waits while a fresh D catches up, if asked)
            D_plain.requires_grad_(False)
            y_half = torch.randint(0, num_classes, (n // 2,), device=device)
            y_g = torch.cat([y_half, y_half])                      # each label twice, with two different noises
            z = torch.randn(len(y_g), args.latent_dim, device=device)
            fake = G(z, y_g)
            g_logits, g_class = D_plain(fake, y_g, return_class_logits=True)
            g_loss = generator_loss(args.loss, g_logits)
            if args.mode_seeking:  # Mao et al. 2019: a cGAN left alone tends to ignore the noise per label
                (f1, f2), (z1, z2) = fake.chunk(2), z.chunk(2)
                spread = (f1 - f2).abs().flatten(1).mean(1) / (z1 - z2).abs().mean(1)  # image change per noise change
                g_loss = g_loss + args.mode_seeking / (spread.mean() + 1e-5)
            if args.aux_weight_g:  # AC-GAN's push towards what D's class head recognises
                g_loss = g_loss + args.aux_weight_g * F.cross_entropy(g_class, y_g)
            opt_g.zero_grad(set_to_none=True)
            accelerator.backward(g_loss)
            opt_g.step()
            D_plain.requires_grad_(True)
            ema.update(accelerator.unwrap_model(G))
            g_logs = {"g_loss": g_loss, **({"g_spread": spread} if args.mode_seeking else {})}

        state.step += 1
        log.add(n, d_loss=d_adv, d_cls=d_cls, **g_logs, real_logit=real_logits.detach(),
                fake_logit=fake_logits.detach())
        if state.step % args.log_steps == 0:
            log.flush(state.step)
        if state.step % args.sample_steps == 0 or state.step == args.max_steps:
            save_samples(accelerator, ema, args, num_classes, state.step)
        if judge and (state.step % args.eval_steps == 0 or state.step == args.max_steps):
            standing_stats(ema, args, num_classes, device)
            result = judge(ema.model, args.eval_samples)
            if best.better(result["label_accuracy"], result["classifier_fid"]):
                best.accuracy, best.fid, best.step = result["label_accuracy"], result["classifier_fid"], state.step
                common.save_pipeline(CGANPipeline(ema.model), Path(args.output_dir) / "best_generator",
                                     discriminator=D_plain, step=state.step, ema_updates=int(ema.num_updates))
            common.log_eval(accelerator, args.output_dir, state.step, {**result, "best_step": best.step})
        if args.snapshot_steps and state.step % args.snapshot_steps == 0:
            standing_stats(ema, args, num_classes, device)
            common.save_snapshot(lambda: CGANPipeline(ema.model), args.output_dir, state.step, accelerator)
        if state.step % args.checkpointing_steps == 0 or state.step == args.max_steps:
            common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
        if args.push_to_hub and args.push_every_steps and state.step % args.push_every_steps == 0:
            finish(accelerator, ema, D_plain, state.step, args, num_classes, judge, best, push=True)

    if state.step % args.checkpointing_steps and state.step != args.max_steps:  # stopped by --max_minutes
        common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
    return finish(accelerator, ema, D_plain, state.step, args, num_classes, judge, best, push=args.push_to_hub)


class Judge:
    """Label accuracy and classifier-space FID of a generator, against the held-out reals."""

    def __init__(self, args, held_out: torch.Tensor, held_out_labels: torch.Tensor, num_classes: int):
        self.classifier = MNISTClassifier.load_strict(args.classifier)
        if self.classifier.num_classes != num_classes:
            raise SystemExit(f"error: the classifier knows {self.classifier.num_classes} classes, the data "
                             f"{num_classes}")
        if len(held_out) < 2:
            raise SystemExit("error: --classifier needs held-out rows for the FID reference (--holdout 10000)")
        self.real_feats = classifier_features(self.classifier, held_out)
        self.real_labels = held_out_labels.numpy()
        self.num_classes, self.latent_dim = num_classes, args.latent_dim

    @torch.no_grad()
    def __call__(self, generator, num: int, seed: int = 10_000_000) -> dict:
        gen = torch.Generator().manual_seed(seed)  # the same noise and labels at every evaluation
        labels = torch.arange(num) % self.num_classes
        fakes = torch.cat([generator(torch.randn(len(y), self.latent_dim, generator=gen), y).cpu()
                           for y in labels.split(500)])
        acc = label_accuracy(self.classifier, fakes, labels)
        fake_feats = classifier_features(self.classifier, fakes)
        fid = frechet_distance(self.real_feats, fake_feats)
        # how varied each class is, generated / real (about 1: as varied as the real digits; << 1: collapse)
        spread = [feature_spread(fake_feats[labels.numpy() == k]) / feature_spread(self.real_feats[self.real_labels == k])
                  for k in range(self.num_classes)]
        return {"label_accuracy": round(acc["overall"], 4), "worst_class_accuracy": round(min(acc["per_class"]), 4),
                "per_class": [round(a, 4) for a in acc["per_class"]], "classifier_fid": round(fid, 3),
                "diversity_ratio": round(float(np.nanmean(spread)), 3),
                "diversity_ratio_per_class": [round(x, 3) for x in spread], "num_fake": num, "num_real": len(self.real_feats)}


def standing_stats(ema, args, num_classes, device):
    common.recalibrate_batchnorm(ema.model, lambda i: (
        torch.randn(100, args.latent_dim, generator=torch.Generator().manual_seed(i)).to(device),
        (torch.arange(100) % num_classes).to(device)))


def class_grid(generator, args, num_classes, device, rows: int = 10):
    """Rows = fixed noise ("styles"), columns = classes 0..K-1."""
    noise = common.fixed_noise(rows, args.latent_dim).repeat_interleave(num_classes, 0).to(device)
    labels = torch.arange(num_classes).repeat(rows).to(device)
    with torch.no_grad():
        return common.image_grid(generator(noise, labels), nrow=num_classes)


def save_samples(accelerator, ema, args, num_classes, step):
    if accelerator.is_main_process:
        standing_stats(ema, args, num_classes, accelerator.device)
        path = Path(args.output_dir) / "samples" / f"step-{step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        class_grid(ema.model, args, num_classes, accelerator.device).save(path)
    accelerator.wait_for_everyone()


def finish(accelerator, ema, D, train_step, args, num_classes, judge, best, push: bool) -> Path:
    """Save the pipeline around the chosen EMA generator, with its D, a sample grid and a measured model card;
    push if asked. ``--resume_from_weights`` continues from this folder."""
    folder = Path(args.output_dir) / "pipeline"
    if accelerator.is_main_process:
        standing_stats(ema, args, num_classes, accelerator.device)
        chosen, step = ema.model, int(ema.num_updates)
        best_folder = Path(args.output_dir) / "best_generator"
        kept = best_folder if judge and best.step and best_folder.is_dir() else None  # the best G, with its own D
        common.final_folder(args.output_dir, lambda: CGANPipeline(chosen), discriminator=D, step=train_step,
                            ema_updates=int(ema.num_updates), kept=kept)
        if kept:
            chosen, step = CGANGenerator.load_strict(common.generator_folder(folder)).to(accelerator.device), best.step
        class_grid(chosen, args, num_classes, accelerator.device).save(folder / "samples.png")
        metrics = {}
        if judge:
            result = judge(chosen.eval(), args.final_eval_samples, seed=20_000_000)
            (folder / "metrics.json").write_text(json.dumps({"step": step, **result}, indent=1) + "\n")
            metrics = {f"label accuracy ({result['num_fake']} samples, classifier `{args.classifier}`)":
                       result["label_accuracy"],
                       "worst class label accuracy": result["worst_class_accuracy"],
                       "per-class label accuracy": " ".join(f"{k}:{a}" for k, a in enumerate(result["per_class"])),
                       f"classifier-FID ({result['num_fake']} fake vs {result['num_real']} held-out real)":
                       result["classifier_fid"],
                       "variety within a class (feature spread, generated / real, mean of classes)":
                       result["diversity_ratio"]}
            accelerator.print(f"final ({step} steps): {json.dumps(result)}")
        common.write_model_card(
            folder, title="Label-conditioned digits cGAN (GAN Gallery)",
            pipeline_tag="unconditional-image-generation", dataset=args.dataset, license="cc-by-sa-3.0",
            tags=["cgan", "class-conditional", "projection-discriminator"], metrics=metrics,
            description=(f"A conditional GAN ({args.resolution}x{args.resolution}, {num_classes} classes, latent "
                         f"{args.latent_dim}) trained {step} steps on `{args.dataset}` minus {args.holdout} held-out "
                         f"rows, `{args.loss}` loss, projection discriminator with spectral norm"
                         f"{f', class loss on D x{args.aux_weight}' if args.aux_weight else ''}"
                         f"{f', on G x{args.aux_weight_g}' if args.aux_weight_g else ''}"
                         f"{f', mode-seeking term x{args.mode_seeking}' if args.mode_seeking else ''}; the weights are the "
                         "EMA generator's. The Hub has no class-conditional task: the pipeline tag is the nearest "
                         "one, and the input is noise plus a class id."),
            usage=("from gan_models.digits.pipeline import CGANPipeline\n"
                   f"pipe = CGANPipeline.from_pretrained(\"{args.hub_model_id or folder}\")\n"
                   "images = pipe(labels=[7], num_images=8, seed=0).images"),
        )
        if push:
            common.push_folder(folder, args, commit_message=f"cGAN generator at step {step}",
                               remote_module=CGANPipeline.remote_module)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return folder


if __name__ == "__main__":
    main(parse_args())
