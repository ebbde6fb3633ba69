"""Train a CycleGAN (Zhu et al. 2017) on the two sides of a paired dataset with the pairs broken, and save both
directions' EMA generators (and both discriminators) in one pipeline folder.

    accelerate launch training/train_cyclegan.py --dataset ../shared/data/maps --output_dir runs/cyclegan
    python training/train_cyclegan.py --dataset ../shared/data/maps --output_dir runs/cyclegan \\
        --threads 1 --resume_from_checkpoint latest                     # the CPU run (README: the command used)
    python training/train_cyclegan.py ... --resume_from_weights gan_models/weights/cyclegan_maps   # G + D go on

The data is pix2pix's (aerial photo, map) pairs, but no pair is ever shown: each step draws a
batch of aerial photos and a batch of maps from two independent permutations of the training
places, each picture cropped and flipped on its own. The 100 pairs held out (``--holdout 100
--holdout_seed 0``, pix2pix's split) are used for scoring only, where the pairs are what make
the scores possible: the aerial -> map output against the true map (palette mIoU and pixel
accuracy, as pix2pix), map -> aerial by L1, and the way there and back (aerial -> map ->
aerial) by L1.

The paper's recipe: ResNet generators, 70x70 PatchGANs with InstanceNorm, LSGAN losses (D:
(D(real) - 1)^2 and D(fake)^2, halved; G: (D(G(x)) - 1)^2), the cycle loss (L1, ``--cycle_weight``
10 for each side) and the identity loss (L1 of G(b) to b and F(a) to a, ``--identity_weight``
0.5 x the cycle weight), D trained on a pool of the last 50 fakes (``--pool_size``: half of each
batch's fakes swapped for older ones, so D does not chase G's latest move), Adam 2e-4 with beta1
0.5, constant for the first half of the steps, then decaying linearly to 0 (``--decay_steps``). An EMA
of both generators is what gets sampled, scored and saved. The gallery's defaults are narrower than the paper's and train on
128x128 crops of the 286x286 pictures (pix2pix's scale: a crop is a quarter of a 256 tile); the
networks are fully convolutional, so they translate and are scored on whole 256x256 pictures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from train_pix2pix import jitter, load_pairs, resize_to  # noqa: E402  (the same data, read and resized alike)
from gan_models.data import holdout_split, to_float, to_uint8  # noqa: E402
from gan_models.losses import discriminator_loss  # noqa: E402
from gan_models.maps.cycle_pipeline import CycleGANPipeline  # noqa: E402
from gan_models.maps.cyclegan import CycleGANDiscriminator, CycleGANGenerator  # noqa: E402
from gan_models.maps.palette import palette_scores  # noqa: E402
from gan_models.maps.pipeline import quantize  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(parser, run_name="cyclegan", dataset="huggan/maps",
                           local_dataset="../shared/data/maps", batch_size=1, max_steps=50_000, lr=2e-4)
    parser.set_defaults(holdout=100)  # pix2pix's 100 held-out pairs (seed 0): the two models are scored on the same
    a = parser.add_argument
    a("--a_column", default=None, help="default: 'aerial' (+ 'map') or HugGAN's 'imageA' (+ 'imageB')")
    a("--b_column", default=None)
    a("--a_name", default=None, help="what A is, for captions and the app (default: the column name)")
    a("--b_name", default=None)
    a("--load_size", type=int, default=286, help="pictures are resized to this square, then randomly cropped")
    a("--crop_size", type=int, default=128, help="training crops (a multiple of 4); 128 of 286 keeps pix2pix's scale")
    a("--eval_size", type=int, default=256,
      help="held-out pictures are resized to this square and translated whole (pix2pix's tile); also the app's tile")
    a("--g_channels", type=int, default=16, help="generator width C: C, 2C, 4C channels (the paper: 64)")
    a("--g_blocks", type=int, default=6, help="residual blocks at a quarter of the size (the paper: 6 at 128, 9 at 256)")
    a("--d_channels", type=int, default=32, help="PatchGAN width (the paper: 64)")
    a("--d_layers", type=int, default=3, help="3: the 70x70 PatchGAN")
    a("--cycle_weight", type=float, default=10.0, help="lambda: weight of each side's cycle loss")
    a("--identity_weight", type=float, default=0.5, help="identity loss weight, as a fraction of lambda (0: none)")
    a("--pool_size", type=int, default=50, help="past fakes each D also sees (0: only the current batch's)")
    a("--decay_steps", type=int, default=None,
      help="decay both learning rates linearly to 0 over the last N steps (default: the second half, as the paper)")
    a("--no-flip", dest="flip", action="store_false", help="no random horizontal flips")
    a("--num_sample_pairs", type=int, default=4, help="rows of the sample grid (held-out pictures if any)")
    a("--eval_steps", type=int, default=0, help="also score the held-out pairs every N steps (always at the end)")
    a("--palette_metric", default="auto", choices=["auto", "yes", "no"],
      help="score A -> B by the map palette (mIoU); auto: when the B column is named 'map'")
    args = parser.parse_args(argv)
    if args.decay_steps is None:
        args.decay_steps = args.max_steps // 2
    return args


def unpaired_streams(num_places: int, batch_size: int, seed: int, process_index: int = 0,
                     num_processes: int = 1) -> tuple[common.InMemoryBatches, common.InMemoryBatches]:
    """The indices of the aerial photos and of the maps each step takes: two independent permutations of the training
    places (a fresh one per side each epoch, from seeds ``seed`` and ``seed + 1``), so a batch's photos and maps are
    of different places but for chance coincidences (1 in ``num_places`` per picture), and no loss ever compares a
    photo with a map: the pairs are broken. Each a pure function of the step, as every data stream here."""
    return tuple(common.InMemoryBatches(torch.arange(num_places), batch_size=batch_size, seed=s,
                                        process_index=process_index, num_processes=num_processes)
                 for s in (seed, (seed + 1) % 2**32))


def random_crops(images: torch.Tensor, crop: int, flip: bool) -> torch.Tensor:
    """Each picture's own random crop (and flip): the two sides are cropped apart, as nothing pairs them."""
    return jitter(images, images, crop, flip)[0]


def lsgan_g(logits: torch.Tensor) -> torch.Tensor:
    """G's LSGAN loss as the paper weighs it against the cycle loss: the mean of (D(G(x)) - 1)^2."""
    return (logits - 1.0).square().mean()


class FakePool(nn.Module):
    """The last ``size`` fakes G made (Shrivastava et al. 2017, as CycleGAN uses it): once full, each new fake is, with
    probability 1/2, swapped for a stored one, which D then sees instead. A buffer, so checkpoints carry it, and a
    resumed run draws what an uninterrupted one would (the coin flips use torch's global generator, which
    Accelerate's checkpoints save)."""

    def __init__(self, size: int, shape: tuple[int, ...]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))       # size x 3 x crop x crop
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self._count: int | None = None

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        # fakes: N x 3 x H x W (detached) -> N x 3 x H x W: each the new fake or one it replaced in the pool
        if self.size == 0:
            return fakes
        if self._count is None:
            self._count = int(self.count)  # read once after a resume: no device sync per step
        out = fakes.clone()
        flips, slots = torch.rand(len(fakes)).tolist(), torch.randint(0, self.size, (len(fakes),)).tolist()
        for i, (flip, slot) in enumerate(zip(flips, slots)):
            if self._count < self.size:  # filling up: store it, show it
                self.images[self._count] = fakes[i]
                self._count += 1
            elif flip < 0.5:  # show an older fake, keep the new one in its place
                out[i] = self.images[slot]
                self.images[slot] = fakes[i]
        self.count.fill_(self._count)
        return out

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._count = None


def main(args) -> Path:
    # ---- data first (nothing is written before it loads): both columns decoded once, kept on the training device
    with common.dataset_errors(args):
        images_a, images_b = load_pairs(args)
    accelerator = common.make_accelerator(args, "cyclegan")
    device = accelerator.device
    for name, size in (("--crop_size", args.crop_size), ("--eval_size", args.eval_size)):
        if size % 4:
            raise SystemExit(f"error: {name} {size} is not a multiple of 4 (the generators halve it twice)")
    if args.load_size < args.crop_size:
        raise SystemExit(f"error: --load_size {args.load_size} is smaller than --crop_size {args.crop_size}")
    train_idx, held_idx = holdout_split(len(images_a), args.holdout, args.holdout_seed)
    train_a, train_b = images_a[train_idx].to(device), images_b[train_idx].to(device)
    streams = unpaired_streams(len(train_idx), args.batch_size, args.seed, accelerator.process_index,
                               accelerator.num_processes)
    shown = held_idx if len(held_idx) else train_idx
    sample_a = resize_to(images_a[shown[:args.num_sample_pairs]], args.eval_size).to(device)
    sample_b = resize_to(images_b[shown[:args.num_sample_pairs]], args.eval_size).to(device)
    a_name, b_name = args.a_name or args.a_column, args.b_name or args.b_column
    palette = args.palette_metric == "yes" or (args.palette_metric == "auto" and b_name == "map")
    judge = (CycleJudge(images_a[held_idx], images_b[held_idx], args.eval_size, palette)
             if len(held_idx) and accelerator.is_main_process else None)
    accelerator.print(f"{len(train_idx)} training places ({len(held_idx)} held-out pairs), unpaired: {a_name} <-> "
                      f"{b_name}, {streams[0].steps_per_epoch} steps/epoch, {args.crop_size}x{args.crop_size} crops")

    # ---- models, optimizers, pools
    resnet = dict(base_channels=args.g_channels, num_blocks=args.g_blocks)
    patch = dict(base_channels=args.d_channels, num_layers=args.d_layers)
    G = CycleGANGenerator(a2b=resnet, b2a=resnet, a_name=a_name, b_name=b_name, tile_size=args.eval_size)
    D = CycleGANDiscriminator(a2b=patch, b2a=patch)
    pools = {d: FakePool(args.pool_size, (3, args.crop_size, args.crop_size)).to(device) for d in ("a2b", "b2a")}
    G, D, D_plain, opt_g, opt_d, ema, state = common.prepare_gan(accelerator, args, G, D, *pools.values())
    log = common.MetricLog(accelerator, args.output_dir, args.max_steps, state.step)
    lam, lam_idt = args.cycle_weight, args.cycle_weight * args.identity_weight

    best_dir = Path(args.output_dir) / "best_generator"

    def evaluate(step):
        """Score the EMA generators on the held-out pairs; keep the best so far (with D) in best_generator/."""
        result = judge(ema.model)
        common.log_eval(accelerator, args.output_dir, step, result)
        common.keep_if_best(best_dir, result, lambda new, best: quality(new) > quality(best),
                            lambda: CycleGANPipeline(ema.model), discriminator=D_plain, step=step,
                            ema_updates=int(ema.num_updates))
        return result

    deadline = common.Deadline(args.max_minutes, accelerator)
    G.train(); D.train()
    while state.step < args.max_steps and not deadline.reached(state.step):
        step = state.step
        common.linear_decay(step, args.max_steps, args.decay_steps, (opt_g, args.lr_g), (opt_d, args.lr_d))
        (ia,), (ib,) = streams[0].batch(step), streams[1].batch(step)
        real_a = to_float(random_crops(train_a[ia], args.crop_size, args.flip))  # N x 3 x crop x crop, aerial photos
        real_b = to_float(random_crops(train_b[ib], args.crop_size, args.flip))  # N x 3 x crop x crop, other places' maps
        n = real_a.shape[0]

        # ---- generator step: fool both Ds, come back to where you started (cycle), leave the other side alone
        # (identity). Pictures through the same network go in one batch (InstanceNorm is per picture: exact).
        g_logs = {}
        if step >= args.d_warmup_steps:
            both = lam_idt > 0
            ab = G(torch.cat([real_a, real_b]) if both else real_a, "a2b")   # G(a) [, G(b)]
            ba = G(torch.cat([real_b, real_a]) if both else real_b, "b2a")   # F(b) [, F(a)]
            fake_b, fake_a = ab[:n], ba[:n]
            rec_a, rec_b = G(fake_b, "b2a"), G(fake_a, "a2b")                # F(G(a)), G(F(b))
            D_plain.requires_grad_(False)
            g_adv = lsgan_g(D_plain(fake_b, "a2b")) + lsgan_g(D_plain(fake_a, "b2a"))
            g_cycle = (rec_a - real_a).abs().mean() + (rec_b - real_b).abs().mean()
            g_loss = g_adv + lam * g_cycle
            g_logs = {"g_adv": g_adv, "g_cycle": g_cycle}
            if both:
                g_idt = (ab[n:] - real_b).abs().mean() + (ba[n:] - real_a).abs().mean()
                g_loss = g_loss + lam_idt * g_idt
                g_logs["g_idt"] = g_idt
            opt_g.zero_grad(set_to_none=True)
            accelerator.backward(g_loss)
            opt_g.step()
            D_plain.requires_grad_(True)
            ema.update(accelerator.unwrap_model(G))
        else:  # D warm-up: G frozen, its fakes only
            with torch.no_grad():
                fake_b, fake_a = G(real_a, "a2b"), G(real_b, "b2a")

        # ---- discriminator step: real pictures of each side up, pooled fakes down (lsgan's D loss is the paper's
        # (real + fake) / 2)
        real_logits = [D(real_b, "a2b"), D(real_a, "b2a")]
        fake_logits = [D(pools["a2b"].query(fake_b.detach()), "a2b"), D(pools["b2a"].query(fake_a.detach()), "b2a")]
        d_loss = sum(discriminator_loss("lsgan", r, f) for r, f in zip(real_logits, fake_logits))
        opt_d.zero_grad(set_to_none=True)
        accelerator.backward(d_loss)
        opt_d.step()

        state.step += 1
        log.add(n, d_loss=d_loss, **g_logs, d_real=torch.cat([r.detach().flatten() for r in real_logits]),
                d_fake=torch.cat([f.detach().flatten() for f in fake_logits]))
        if state.step % args.log_steps == 0:
            log.flush(state.step)
        if state.step % args.sample_steps == 0 or state.step == args.max_steps:
            if accelerator.is_main_process:
                save_grid(ema.model, sample_a, sample_b, Path(args.output_dir) / "samples" / f"step-{state.step:07d}.png")
            accelerator.wait_for_everyone()
        if state.step % args.checkpointing_steps == 0 or state.step == args.max_steps:
            common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
        if args.snapshot_steps and state.step % args.snapshot_steps == 0:
            common.save_snapshot(lambda: CycleGANPipeline(ema.model), args.output_dir, state.step, accelerator)
        if judge and args.eval_steps and state.step % args.eval_steps == 0 and state.step != args.max_steps:
            evaluate(state.step)  # main process only; the others wait at the next step's gradient all-reduce
        if args.push_to_hub and args.push_every_steps and state.step % args.push_every_steps == 0:
            finish(accelerator, ema, D_plain, state.step, args, sample_a, sample_b, None, push=True)

    if state.step % args.checkpointing_steps and state.step != args.max_steps:  # stopped by --max_minutes
        common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
    log.close()
    result = evaluate(state.step) if judge else None
    best = common.read_best(best_dir) if judge else None
    kept = None
    if best is not None and best["step"] != state.step:  # an earlier evaluation scored better: keep that one
        accelerator.print(f"the best held-out score was at step {best['step']}: saving those generators (and D)")
        ema.model.load_state_dict(CycleGANGenerator.load_strict(common.generator_folder(best_dir)).state_dict())
        result, kept = best, best_dir
    folder = finish(accelerator, ema, D_plain, state.step, args, sample_a, sample_b, result, push=args.push_to_hub,
                    kept=kept)
    accelerator.end_training()
    return folder


def quality(result: dict) -> float:
    """Higher is better: the aerial -> map palette mIoU where the B side is a map, else minus the A -> B L1."""
    return result["miou"] if "miou" in result else -result["l1_a2b"]


class CycleJudge:
    """The held-out pairs, resized to ``size`` and translated whole: A -> B against the true B (L1, and the palette
    scores for maps), B -> A against the true A (L1), and A -> B -> A against A (L1; the translation rounded to 8
    bits on the way, as a PNG would carry it)."""

    def __init__(self, held_a: torch.Tensor, held_b: torch.Tensor, size: int, palette: bool):
        self.real_a, self.real_b = resize_to(held_a, size), resize_to(held_b, size)  # N x 3 x size x size, [-1, 1]
        self.palette = palette

    @torch.no_grad()
    def __call__(self, generator) -> dict:
        device = next(generator.parameters()).device

        def run(x, direction):
            return torch.cat([generator(part.to(device), direction).float().cpu() for part in x.split(16)])

        fake_b, fake_a = run(self.real_a, "a2b"), run(self.real_b, "b2a")
        rec_a = run(quantize(fake_b), "b2a")
        result = {"num_pairs": len(fake_b),
                  "l1_a2b": round(float((fake_b - self.real_b).abs().mean()), 4),
                  "l1_b2a": round(float((fake_a - self.real_a).abs().mean()), 4),
                  "cycle_l1_a2b2a": round(float((rec_a - self.real_a).abs().mean()), 4)}
        if self.palette:
            scores = palette_scores(to_uint8(fake_b), to_uint8(self.real_b))
            result.update(miou=scores["miou"], pixel_accuracy=scores["pixel_accuracy"], iou=scores["iou"])
        return result


@torch.no_grad()
def save_grid(generator, a: torch.Tensor, b: torch.Tensor, path: Path) -> None:
    """Rows of a | G(a) | F(G(a)) | b | F(b) | G(F(b)): each side there and back."""
    fake_b, fake_a = generator(a, "a2b").float(), generator(b, "b2a").float()
    rows = torch.stack([a.float(), fake_b, generator(fake_b, "b2a").float(),
                        b.float(), fake_a, generator(fake_a, "a2b").float()], 1).flatten(0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    common.image_grid(rows, nrow=6).save(path)


def finish(accelerator, ema, D, train_step, args, sample_a, sample_b, result, push: bool,
           kept: Path | None = None) -> Path:
    """Save the pipeline around the EMA generators (or the ``kept`` best folder, with its D) with a sample grid, the
    scores and a model card; push if asked. ``--resume_from_weights`` continues from this folder."""
    folder = Path(args.output_dir) / "pipeline"
    if accelerator.is_main_process:
        g, step = ema.model, (result["step"] if result and "step" in result else train_step)
        common.final_folder(args.output_dir, lambda: CycleGANPipeline(g), discriminator=D, step=train_step,
                            ema_updates=int(ema.num_updates), kept=kept)
        save_grid(g, sample_a, sample_b, folder / "samples.png")
        metrics, note = {}, ""
        if result:
            result = {k: v for k, v in result.items() if k != "step"}
            (folder / "metrics.json").write_text(json.dumps({"step": step, **result}, indent=1) + "\n")
            metrics = {f"l1 {g.a_name} -> {g.b_name} (held-out pairs, [-1, 1] units)": result["l1_a2b"],
                       f"l1 {g.b_name} -> {g.a_name}": result["l1_b2a"],
                       f"l1 {g.a_name} -> {g.b_name} -> {g.a_name} (the cycle)": result["cycle_l1_a2b2a"]}
            if "miou" in result:
                metrics.update({"palette mIoU": result["miou"], "palette pixel accuracy": result["pixel_accuracy"],
                                **{f"IoU {k}": v for k, v in result["iou"].items()}})
            note = (f"On the {result['num_pairs']} pairs held out from training (--holdout {args.holdout}, seed "
                    f"{args.holdout_seed}), each resized to {args.eval_size}x{args.eval_size} and translated whole, at "
                    f"step {step}. Training never saw a pair; the scores need them.")
        common.write_model_card(
            folder, title=f"CycleGAN {g.a_name} <-> {g.b_name}, unpaired (GAN Gallery)", pipeline_tag="image-to-image",
            dataset=args.dataset, license="other", tags=["cyclegan", "image-to-image", "unpaired"], metrics=metrics,
            metrics_note=note,
            description=(f"A CycleGAN ({g.a_name} <-> {g.b_name}) trained without pairs: {step} steps of batch "
                         f"{args.batch_size} of {args.crop_size}x{args.crop_size} crops from `{args.dataset}`, "
                         f"{g.a_name} pictures and {g.b_name} pictures drawn independently. Each generator is the "
                         f"paper's ResNet at width {args.g_channels} with {args.g_blocks} residual blocks; each D a "
                         f"70x70 PatchGAN of width {args.d_channels} (in `discriminator/`, so training can go on). "
                         f"LSGAN losses, cycle loss x{args.cycle_weight:g}, identity loss "
                         f"x{args.cycle_weight * args.identity_weight:g}, a pool of {args.pool_size} past fakes per "
                         "D; the weights are the EMA generators'. Both directions in one folder."),
            usage=("from diffusers import DiffusionPipeline\n"
                   f"pipe = DiffusionPipeline.from_pretrained(\"{args.hub_model_id or folder}\", "
                   "trust_remote_code=True)   # runs cyclegan_maps.py\n"
                   "image = pipe(\"input.png\", direction=\"a2b\").images[0]          # a2b: "
                   f"{g.a_name} -> {g.b_name}\n"
                   "there_and_back = pipe.cycle(\"input.png\", \"a2b\", noise=2.0)   # images, error, psnr\n"
                   "# with the gallery installed: gan_models.maps.cycle_pipeline.CycleGANPipeline.from_pretrained"),
        )
        if push:
            common.push_folder(folder, args, commit_message=f"CycleGAN EMA generators at step {step}",
                               remote_module=CycleGANPipeline.remote_module)
    accelerator.wait_for_everyone()
    return folder


if __name__ == "__main__":
    main(parse_args())
