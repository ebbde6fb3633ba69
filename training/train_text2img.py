"""Train the text-to-image birds GAN (gan_models/birds/text2img.py) on a captioned dataset and save its EMA generator.

    accelerate launch training/train_text2img.py --dataset ../shared/data/cub-birds --output_dir runs/birds
    python training/train_text2img.py --dataset ../shared/data/cub-birds --output_dir runs/birds \\
        --captions_per_image 10 --embedding_cache cache/cub-k10.safetensors --precompute_only   # on a CPU, once
    accelerate launch training/train_text2img.py --dataset ../shared/data/cub-birds --output_dir runs/birds \\
        --embedding_cache cache/cub-k10.safetensors --mixed_precision bf16 --batch_size 64 --max_minutes 8
    python training/train_text2img.py ... --resume_from_checkpoint latest      # carry on after a stop

The caption embeddings are computed before training, once per dataset (and cached; see
gan_models/birds/captions.py): a machine without the text encoder (a GPU box) trains from a cache
file made elsewhere with ``--embedding_cache``. ``--text_column``, ``--image_column`` and
``--label_column`` make other captioned datasets work (a label column is optional; it is
used to hold out whole classes, ``--holdout_classes``, else ``--holdout`` rows at random).

Each step: every image gets one of its first K captions at random; D sees (real, its text)
as real, and (fake, the text it was made from) and (real, another image's text) as fake
(matching-aware, GAN-CLS), hinge loss, with DF-GAN's matching-aware gradient penalty on the
real pairs; G gets the hinge generator loss plus the conditioning augmentation's KL term.
Augmentation for a small dataset: random 64 crops of the 72 squares and flips of the reals,
and DiffAugment (translation, cutout; never colour: the colours are what the text says) on
everything D sees. Both networks read the sentence vectors centred and scaled on the training
captions (TextNorm in gan_models/birds/text2img.py): raw, bird captions differ by ~0.03 per dimension.
``--eval_steps`` scores the EMA generator on the held-out species (FID/KID, colour follows the
text) and keeps the best one, which is what is saved at the end.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from augment import diff_augment  # noqa: E402
from gan_models.birds.pipeline import BirdsPipeline  # noqa: E402
from gan_models.birds.prompts import EXAMPLE_PROMPTS  # noqa: E402
from gan_models.birds.text2img import BirdsDiscriminator, BirdsGenerator, ProjectedBirdsDiscriminator  # noqa: E402
from gan_models.feature_networks import EfficientNetLite0Features, FeatureNetworkError  # noqa: E402
from gan_models.birds.captions import EmbeddingCacheError, caption_embeddings, holdout_classes, load_captioned  # noqa: E402
from gan_models.data import holdout_split, to_float  # noqa: E402
from gan_models.birds.text_encoder import MINILM, load_text_encoder  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # the birds' captioned crops (CUB-200-2011 with Reed et al.'s captions) have no Hub copy in this layout
    common.add_common_args(parser, run_name="birds", dataset="../shared/data/cub-birds",
                           local_dataset="../shared/data/cub-birds", batch_size=64, max_steps=20_000, lr=1e-4)
    # Adam: DF-GAN's for its D (G 1e-4, D 4e-4, betas 0, 0.9); Projected GAN's for the projected D (2e-4, 0, 0.99)
    parser.set_defaults(lr_g=None, lr_d=None, beta1=0.0, beta2=None)
    a = parser.add_argument
    a("--image_column", default="image")
    a("--text_column", default="text", help="a list of captions per row, or one string (split at newlines)")
    a("--label_column", default="label", help="class per row (species), to hold out whole classes; optional")
    a("--captions_per_image", type=int, default=10, help="use the first K captions of each row (part of the cache key)")
    a("--text_encoder", default=MINILM)
    a("--embedding_cache", default=None,
      help="caption embeddings file (default: ~/.cache/gan-gallery/caption-embeddings/<dataset>-<encoder>-k<K>-<hash>)")
    a("--precompute_only", action="store_true", help="compute (or check) the embedding cache and exit")
    a("--holdout_classes", type=int, default=20, help="classes held out whole (from --holdout_seed) for evaluation")
    a("--resolution", type=int, default=64, choices=[32, 64, 128])
    a("--load_size", type=int, default=None, help="pad each image to this square, then random-crop --resolution "
                                                   "(default: resolution * 9/8, 72 for 64)")
    a("--latent_dim", type=int, default=100)
    a("--cond_dim", type=int, default=128, help="conditioning augmentation's output")
    a("--g_channels", type=int, default=32)
    a("--d_channels", type=int, default=32)
    a("--affine_hidden", type=int, default=128)
    a("--mismatch_weight", type=float, default=0.5, help="weight of (real, wrong text) among D's fakes (0: plain cGAN)")
    a("--kl_weight", type=float, default=1.0, help="conditioning augmentation KL term")
    a("--discriminator", default="projected", choices=["projected", "dfgan"],
      help="projected: heads on a frozen ImageNet EfficientNet-Lite0's features (Projected GAN); dfgan: DF-GAN's "
           "D on pixels, trained from scratch")
    a("--feature_size", type=int, default=128, help="projected: images are resized to this before the feature net")
    a("--head_width", type=int, default=128, help="projected: channels of each scale's head")
    a("--pad", default="pad-blur", choices=["pad-blur", "pad"], help="how the crops are made square")
    a("--magp_weight", type=float, default=None,
      help="matching-aware gradient penalty on what D sees and the text (DF-GAN; 0: off; default 2 for dfgan, "
           "0 for projected)")
    a("--magp_power", type=float, default=6.0)
    a("--magp_every", type=int, default=4, help="lazy: every N steps, scaled by N")
    a("--diffaugment", default="translation,cutout", help="DiffAugment policy ('' for none; avoid color)")
    a("--no-flip", dest="flip", action="store_false")
    a("--sample_prompts", nargs="+", default=EXAMPLE_PROMPTS, help="rows of the sample grids")
    a("--eval_steps", type=int, default=0,
      help="every N steps (and at the end): FID/KID and colour-follows-text on the held-out rows (needs the text "
           "encoder); the best generator so far is kept in best_generator/ and is the one saved at the end")
    a("--eval_samples", type=int, default=500, help="birds per evaluation, for FID/KID and for the colour test")
    a("--colour_classifier", default=str(Path(__file__).resolve().parents[1] / "gan_models" / "weights"
                                         / "bird_colour_classifier"), help="the colour judge's folder")
    a("--species_classifier", default=str(Path(__file__).resolve().parents[1] / "gan_models" / "weights"
                                          / "bird_species_classifier"),
      help="the species judge's folder: each evaluation also gives species_fd, a score in a feature space that "
           "never saw ImageNet ('none': off)")
    a("--eval_fid", default="yes", choices=["yes", "no"], help="no: colour only (no Inception network needed)")
    args = parser.parse_args(argv)
    args.load_size = args.load_size or args.resolution * 9 // 8
    projected = args.discriminator == "projected"
    args.lr_g = args.lr_g if args.lr_g is not None else (2e-4 if projected else 1e-4)
    args.lr_d = args.lr_d if args.lr_d is not None else (2e-4 if projected else 4e-4)
    args.beta2 = args.beta2 if args.beta2 is not None else (0.99 if projected else 0.9)
    if args.magp_weight is None:
        args.magp_weight = 2.0 if args.discriminator == "dfgan" else 0.0
    if args.mixed_precision == "fp16" and args.magp_weight > 0:
        parser.error("--mixed_precision fp16 scales the loss, and the gradient penalty would see scaled gradients: "
                     "use bf16 (or --magp_weight 0)")
    return args


def load_embeddings(args, captions, device="cpu"):
    try:
        return caption_embeddings(captions, args.captions_per_image, encoder_name=args.text_encoder,
                                  dataset=args.dataset, cache_path=args.embedding_cache, prompts=args.sample_prompts,
                                  device=device)
    except EmbeddingCacheError as err:
        raise SystemExit(f"error: {err}") from None


def jitter(images: torch.Tensor, size: int, flip: bool) -> torch.Tensor:
    """Random ``size`` crop of each (square) image, and a random horizontal flip: N x C x L x L -> N x C x S x S."""
    n, c, length, _ = images.shape
    ar = torch.arange(size, device=images.device)
    oy, ox = (torch.randint(0, length - size + 1, (n, 1), device=images.device) for _ in range(2))
    rows = (oy + ar)[:, None, :, None].expand(n, c, size, length)
    out = images.gather(2, rows)
    cols = (ox + ar)[:, None, None, :].expand(n, c, size, size)
    out = out.gather(3, cols)
    if flip:
        out = torch.where(torch.rand(n, 1, 1, 1, device=images.device) < 0.5, out.flip(3), out)
    return out


def main(args) -> Path | None:
    # ---- caption embeddings first: a CPU with the text encoder makes the cache a GPU box trains from
    if args.threads:
        torch.set_num_threads(args.threads)
    with common.dataset_errors(args):
        data = load_captioned(args.dataset, image_column=args.image_column, text_column=args.text_column,
                              label_column=args.label_column, split=args.split, config=args.dataset_config,
                              size=args.load_size, how=args.pad, max_rows=args.max_rows,
                              images=not args.precompute_only)
    if args.precompute_only:
        cache = load_embeddings(args, data.captions)
        print(json.dumps({"path": str(cache.path), "bytes": cache.path.stat().st_size,
                          "shape": list(cache.captions.shape), **cache.meta}, indent=1))
        return None
    accelerator = common.make_accelerator(args, "text2img")
    device = accelerator.device
    with accelerator.main_process_first():  # the main process writes the cache, the others read it
        cache = load_embeddings(args, data.captions)

    # ---- split: whole classes held out (unseen species are the real test), else random rows
    if data.labels is not None and args.holdout_classes:
        train_idx, held_idx, held = holdout_classes(data.labels, args.holdout_classes, args.holdout_seed)
        accelerator.print(f"held out {len(held)} classes ({len(held_idx)} rows): {held}")
    else:
        train_idx, held_idx = holdout_split(len(data.captions), args.holdout, args.holdout_seed)
    judge = (Judge(data.images[held_idx], [data.captions[i] for i in held_idx], args)
             if args.eval_steps and len(held_idx) and accelerator.is_main_process else None)
    train_idx = torch.from_numpy(train_idx)
    images = data.images[train_idx].to(device).contiguous(memory_format=torch.channels_last)  # uint8 N x 3 x 72 x 72
    text = cache.captions[train_idx].to(device)                                               # fp16 N x K x 384
    batches = common.InMemoryBatches(images, text, batch_size=args.batch_size, seed=args.seed,
                                     process_index=accelerator.process_index, num_processes=accelerator.num_processes)
    accelerator.print(f"{len(train_idx)} training images x {args.captions_per_image} captions "
                      f"({len(held_idx)} held out), {batches.steps_per_epoch} steps/epoch")

    # ---- models and optimizers
    text_dim = text.shape[-1]
    G = BirdsGenerator(args.latent_dim, text_dim, args.cond_dim, args.g_channels, args.resolution,
                       args.affine_hidden, args.text_encoder)
    if args.discriminator == "projected":  # D reads a frozen ImageNet network's features, not pixels
        try:
            features = EfficientNetLite0Features(args.feature_size).to(device)
        except FeatureNetworkError as err:
            raise SystemExit(f"error: {err}") from None
        D = ProjectedBirdsDiscriminator(text_dim, args.cond_dim, features.channels,
                                        [args.feature_size // s for s in (4, 8, 16, 32)], head_width=args.head_width)
    else:
        features = None
        D = BirdsDiscriminator(text_dim, args.cond_dim, args.d_channels, args.resolution)
    G.text_norm.fit(text), D.text_norm.fit(text)  # centre and scale the sentence vectors (a resume reloads them)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    G, D, D_plain, opt_g, opt_d, ema, state = common.prepare_gan(accelerator, args, G, D)

    augment = (lambda x: diff_augment(x, args.diffaugment)) if args.diffaugment else (lambda x: x)

    def seen_by_d(images, grad: bool):
        """What D looks at: the augmented images, or (projected) the frozen network's feature maps of them."""
        images = augment(images)
        if features is None:
            return images
        with torch.set_grad_enabled(grad), accelerator.autocast():
            return features(images)

    def detach(seen):
        return [f.detach() for f in seen] if isinstance(seen, list) else seen.detach()

    noise_dim = args.latent_dim + args.cond_dim
    sample = (common.fixed_noise(8, noise_dim).repeat(len(cache.prompts), 1).to(device),   # 8 birds per prompt
              cache.prompt_embeds.float().repeat_interleave(8, 0).to(device))
    log = common.MetricLog(accelerator, args.output_dir, args.max_steps, state.step)
    rows = torch.arange(args.batch_size, device=device)

    deadline = common.Deadline(args.max_minutes, accelerator)
    G.train(); D.train()
    while state.step < args.max_steps and not deadline.reached(state.step):
        step = state.step
        real_u8, captions = batches.batch(step)
        real = jitter(to_float(real_u8), args.resolution, args.flip)
        n = real.shape[0]
        text = captions[rows[:n], torch.randint(0, captions.shape[1], (n,), device=device)].float()  # N x 384
        wrong = text.roll(1, dims=0)  # another bird's caption (the batch is shuffled)

        # ---- one batch of fakes per step: D sees it detached, G learns from the same batch
        g_now = step >= args.d_warmup_steps  # (G waits while a fresh D catches up, if asked)
        with torch.set_grad_enabled(g_now):
            fake, kl = G(torch.randn(n, noise_dim, device=device), text, return_kl=True)
        gp_now = args.magp_weight > 0 and step % args.magp_every == 0
        real_seen = seen_by_d(real, grad=False)
        fake_seen = seen_by_d(fake, grad=g_now)

        # ---- discriminator: (real, its text) up; (fake, its text) and (real, wrong text) down
        if gp_now:
            real_seen = [f.detach().requires_grad_(True) for f in real_seen] if features else \
                real_seen.detach().requires_grad_(True)
        text_in = text.detach().requires_grad_(gp_now)
        real_logits, mismatch_logits = D(real_seen, text_in, wrong)
        fake_logits = D(detach(fake_seen), text)
        w = args.mismatch_weight
        d_loss = (F.relu(1 - real_logits).mean() + (1 - w) * F.relu(1 + fake_logits).mean()
                  + w * F.relu(1 + mismatch_logits).mean())
        if gp_now:  # MA-GP: D flat around the real, matching pairs, in both what it sees and the text
            inputs = real_seen if features else [real_seen]
            grads = torch.autograd.grad(real_logits.sum(), [*inputs, text_in], create_graph=True)
            g_text = grads[-1] * D_plain.text_norm.scale  # the gradient in D's centred, scaled text space
            norm = torch.cat([g.flatten(1) for g in grads[:-1]] + [g_text], dim=1).norm(dim=1)
            d_loss = d_loss + args.magp_weight * args.magp_every * norm.pow(args.magp_power).mean()
        opt_d.zero_grad(set_to_none=True)
        accelerator.backward(d_loss)
        opt_d.step()

        # ---- generator: fakes that D takes for real *and* about their text, plus the CA's KL term
        g_logs = {}
        if g_now:
            D_plain.requires_grad_(False)
            g_adv = -D_plain(fake_seen, text).mean()
            g_loss = g_adv + args.kl_weight * kl
            opt_g.zero_grad(set_to_none=True)
            accelerator.backward(g_loss)
            opt_g.step()
            D_plain.requires_grad_(True)
            ema.update(accelerator.unwrap_model(G))
            g_logs = {"g_adv": g_adv, "kl": kl}

        state.step += 1
        log.add(n, d_loss=d_loss, **g_logs, real_logit=real_logits.detach(),
                fake_logit=fake_logits.detach(), mismatch_logit=mismatch_logits.detach())
        if state.step % args.log_steps == 0:
            log.flush(state.step)
        if state.step % args.sample_steps == 0 or state.step == args.max_steps:
            save_samples(accelerator, ema, sample, cache.prompts, args, state.step)
        if state.step % args.checkpointing_steps == 0 or state.step == args.max_steps:
            common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
        if args.snapshot_steps and state.step % args.snapshot_steps == 0:
            common.save_snapshot(lambda: BirdsPipeline(ema.model), args.output_dir, state.step, accelerator,
                                 include_text_encoder=False)
        if judge and state.step % args.eval_steps == 0 and state.step != args.max_steps:
            judge(ema, D_plain, state.step, accelerator)  # main process only; the others wait at the next all-reduce
        if args.push_to_hub and args.push_every_steps and state.step % args.push_every_steps == 0:
            finish(accelerator, ema, D_plain, state.step, sample, cache, args, push=True)

    if state.step % args.checkpointing_steps and state.step != args.max_steps:  # stopped by --max_minutes
        common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
    best = None
    if judge:
        judge(ema, D_plain, state.step, accelerator)
        best = common.read_best(judge.best_dir)
    return finish(accelerator, ema, D_plain, state.step, sample, cache, args, push=args.push_to_hub, best=best,
                  best_dir=judge.best_dir if judge else None)


class Judge:
    """Scores the EMA generator on the held-out rows (gan_models/judges/birds_eval.py); keeps the best in best_generator/.

    Best: the lowest FID among the evaluations whose birds follow the colour words better than the
    same birds against shuffled words (the text is used); until one does, the lowest FID. The best
    so far is read from disk, so a resumed run keeps comparing against it.
    """

    def __init__(self, images: torch.Tensor, captions: list[list[str]], args):
        from gan_models.judges.colour_classifier import ColourClassifier

        self.images, self.captions, self.args = images, captions, args
        self.classifier = ColourClassifier.load_strict(args.colour_classifier)
        self.species = None
        if args.species_classifier != "none":
            from gan_models.judges.species_classifier import SpeciesClassifier

            self.species = SpeciesClassifier.load_strict(args.species_classifier)
        self.features = self.real_features = self.encoder = None
        self.best_dir = Path(args.output_dir) / "best_generator"

    @staticmethod
    def better(a: dict, b: dict) -> bool:
        uses_text = lambda r: r["colour_accuracy_generated"] > r["colour_accuracy_shuffled_floor"]  # noqa: E731
        if uses_text(a) != uses_text(b):
            return uses_text(a)
        return a.get("fid", -a["colour_accuracy_generated"]) < b.get("fid", -b["colour_accuracy_generated"])

    def __call__(self, ema, discriminator, step: int, accelerator) -> dict:
        from gan_models.judges.birds_eval import centre, score_birds

        args = self.args
        fid = args.eval_fid == "yes"
        if fid and self.features is None:
            from gan_models.judges.metrics import InceptionFeatures

            self.features = InceptionFeatures()
            self.real_features = self.features(centre(self.images, args.resolution))  # once per run
        generator = ema.model
        if self.encoder is None:
            self.encoder = load_text_encoder(args.text_encoder)  # once per run
        pipe = BirdsPipeline(copy.deepcopy(generator).float().eval(), self.encoder.tokenizer, self.encoder.model)
        result = {"step": step, **score_birds(pipe, self.classifier, self.images, self.captions, args.eval_samples,
                                              seed=args.holdout_seed, fid=fid, features=self.features,
                                              real_features=self.real_features, colour_rows=args.eval_samples,
                                              species=self.species)}
        common.log_eval(accelerator, args.output_dir, step, result)
        common.keep_if_best(self.best_dir, result, self.better, lambda: BirdsPipeline(generator),
                            discriminator=discriminator, step=step, ema_updates=int(ema.num_updates),
                            include_text_encoder=False)
        return result


@torch.no_grad()
def prompt_grid(generator, sample):
    """Rows = the sample prompts, 8 fixed noises each."""
    noise, text = sample
    return common.image_grid(torch.cat([generator(z, t) for z, t in zip(noise.split(64), text.split(64))]), nrow=8)


def save_samples(accelerator, ema, sample, prompts, args, step):
    if accelerator.is_main_process:
        folder = Path(args.output_dir) / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        prompt_grid(ema.model, sample).save(folder / f"step-{step:07d}.png")
        (folder / "prompts.txt").write_text("\n".join(prompts) + "\n")
    accelerator.wait_for_everyone()


def finish(accelerator, ema, D, step, sample, cache, args, push: bool, best: dict | None = None,
           best_dir: Path | None = None) -> Path:
    """Save the pipeline around the EMA generator (with --eval_steps, the best one) with its D, a sample grid and a
    model card; push if asked (the pushed folder carries the text encoder; the run's folders leave it out).

    ``--resume_from_weights`` continues from this folder (G, D, step).
    """
    folder = Path(args.output_dir) / "pipeline"
    if accelerator.is_main_process:
        kept = best_dir if best and best["step"] != step else None  # an earlier G (and its D) scored better
        if kept:
            accelerator.print(f"the best held-out score was at step {best['step']}: saving that generator")
        common.final_folder(args.output_dir, lambda: BirdsPipeline(ema.model), discriminator=D, step=step,
                            ema_updates=int(ema.num_updates), kept=kept, include_text_encoder=False)
        if kept:
            ema.model.load_state_dict(BirdsGenerator.load_strict(common.generator_folder(folder)).state_dict())
        if push:  # a Hub repo loads with diffusers alone: it carries the tokenizer and text encoder too
            encoder = load_text_encoder(args.text_encoder)
            encoder.tokenizer.save_pretrained(folder / "tokenizer")
            encoder.model.save_pretrained(folder / "text_encoder")
            index = json.loads((folder / "model_index.json").read_text())
            index.update(tokenizer=["transformers", type(encoder.tokenizer).__name__],
                         text_encoder=["transformers", type(encoder.model).__name__])
            (folder / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        steps = best["step"] if best else int(ema.num_updates)
        metrics, note = None, ""
        if best:
            names = ["fid", "kid", "colour_accuracy_generated", "colour_accuracy_shuffled_floor",
                     "colour_accuracy_real_ceiling", "swapped_colour_accuracy", "swapped_chance"]
            metrics = {k: best[k] for k in names if k in best}
            note = (f"On the {args.holdout_classes} species held out from training (seed {args.holdout_seed}), at "
                    f"step {steps}, the best of the evaluations every {args.eval_steps} steps: FID/KID (standard "
                    f"Inception-v3 features) of {best.get('num_fake', 0)} birds, each from a held-out caption, "
                    f"against {best.get('num_real', 0)} real held-out crops (biased upwards at this count: compare "
                    f"at equal counts); colour accuracy of {best['colour_rows']} birds drawn from captions naming a "
                    "main colour, as judged by the colour classifier, against the same judge on the real photos "
                    "(ceiling) and on shuffled colours (floor); and after swapping the colour words.")
        prompt_grid(ema.model, sample).save(folder / "samples.png")
        rows = "\n".join(f"{i + 1}. {p}" for i, p in enumerate(cache.prompts))
        common.write_model_card(
            folder, title="Text-to-image birds (GAN Gallery)", pipeline_tag="text-to-image", dataset=args.dataset,
            license="other", tags=["text-to-image", "df-gan", "stackgan", "cub-200-2011"],
            description=(
                f"A DF-GAN-style text-to-image GAN ({args.resolution}x{args.resolution}; affine text conditioning in "
                f"every generator block, StackGAN's conditioning augmentation, matching-aware hinge loss"
                + (f", a projected discriminator on a frozen ImageNet EfficientNet-Lite0's features at "
                   f"{args.feature_size}x{args.feature_size} (Projected GAN)" if args.discriminator == "projected"
                   else ", DF-GAN's discriminator with MA-GP")
                + f") trained {steps} steps on `{args.dataset}` ({args.captions_per_image} captions per image, "
                f"{args.holdout_classes} classes held out from seed {args.holdout_seed}); the weights are the EMA "
                f"generator's, and `discriminator/` holds its discriminator (training continues from this folder "
                f"with `--resume_from_weights`). Prompts are embedded by the frozen `{args.text_encoder}`. Images "
                f"were made square by padding the long side's gap with the edge colour"
                + (", blurred (a soft background, not streaks)" if args.pad == "pad-blur" else "")
                + f" (the whole bird is kept), at {args.load_size}x{args.load_size}, then randomly cropped to "
                f"{args.resolution}. CUB-200-2011 is for non-commercial research and education."
                + (f" Fine-tuned from `{args.init_generator}` (a fresh discriminator trained alone for the first "
                   f"{args.d_warmup_steps} steps); the step count above is the fine-tuning's." if args.init_generator
                   else "")),
            metrics=metrics, metrics_note=note,
            usage=("from gan_models.birds.pipeline import BirdsPipeline\n"
                   f"pipe = BirdsPipeline.from_pretrained(\"{args.hub_model_id or folder}\")\n"
                   "images = pipe(\"a small yellow bird with black wings\", 8, seed=0).images"),
            extra=f"`samples.png`: one row per prompt, 8 fixed noises each:\n\n{rows}\n")
        if push:
            common.push_folder(folder, args, commit_message=f"Birds generator at step {steps}",
                               remote_module=BirdsPipeline.remote_module)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return folder


if __name__ == "__main__":
    main(parse_args())
