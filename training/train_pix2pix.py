"""Train pix2pix (Isola et al. 2017) for one direction of a paired dataset and save its EMA generator.

    accelerate launch training/train_pix2pix.py --dataset ../shared/data/maps --direction a2b \\
        --output_dir runs/maps-a2b --holdout 100                         # aerial photo -> map
    accelerate launch training/train_pix2pix.py --dataset huggan/maps --a_column imageA --b_column imageB \\
        --a_name aerial --b_name map --direction b2a --output_dir runs/maps-b2a --holdout 100
    python training/train_pix2pix.py --dataset huggan/facades --direction b2a ...   # any paired set
    python training/merge_pix2pix.py runs/maps-a2b/generator runs/maps-b2a/generator --out gan_models/weights/maps

The paper's recipe: a U-Net generator, a 70x70 PatchGAN discriminator that sees (input,
output) pairs, loss = adversarial + ``--l1_weight`` (100) x L1 to the target, Adam 2e-4 with
beta1 0.5, random jitter (resize to 286, random 256 crop, the same for input and target) and
horizontal flips. D's loss is halved, as in the paper, to slow D down against G. The data
lives on the training device as uint8; crops and flips are drawn there, so a step never
waits on the host. Every ``--sample_steps`` a grid of a fixed held-out batch is written,
each row input | output (EMA generator) | target; with ``--holdout`` the held-out pairs are
also scored (L1, and the palette mIoU when the target is a map) at the end and every
``--eval_steps``. The saved generator holds this direction only; merge_pix2pix.py puts
two directions into one folder for the app.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from gan_models.data import holdout_split, images_to_uint8, load_hf_dataset, to_float  # noqa: E402
from gan_models.losses import LOSSES, discriminator_loss, generator_loss  # noqa: E402
from gan_models.maps.palette import pair_columns, palette_scores  # noqa: E402
from gan_models.maps.pipeline import Pix2PixPipeline  # noqa: E402
from gan_models.maps.pix2pix import Pix2PixDiscriminator, Pix2PixGenerator  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(parser, run_name="maps", dataset="huggan/maps",
                           local_dataset="../shared/data/maps", batch_size=16, max_steps=20_000, lr=2e-4)
    a = parser.add_argument
    a("--direction", default="a2b", choices=["a2b", "b2a"],
      help="a2b: A column -> B column (maps: aerial photo -> map); b2a: the reverse")
    a("--a_column", default=None, help="default: 'aerial' (+ 'map') or HugGAN's 'imageA' (+ 'imageB')")
    a("--b_column", default=None)
    a("--a_name", default=None, help="what A is, for captions and the app (default: the column name)")
    a("--b_name", default=None)
    a("--load_size", type=int, default=286, help="pairs are resized to this square, then randomly cropped")
    a("--num_downs", type=int, default=8, help="U-Net levels; the crop (tile) is 2**num_downs: 8 -> 256")
    a("--g_channels", type=int, default=32, help="U-Net width of the outermost level (the paper's ngf is 64)")
    a("--g_max_mult", type=int, default=3, help="inner levels have at most g_channels x this many channels")
    a("--dropout", type=float, default=0.5, help="dropout in the three inner decoder levels (training only)")
    a("--d_channels", type=int, default=64)
    a("--d_layers", type=int, default=3, help="3: the 70x70 PatchGAN")
    a("--loss", default="ns", choices=LOSSES, help="ns: the paper's BCE loss; lsgan as in CycleGAN")
    a("--l1_weight", type=float, default=100.0, help="lambda of the L1 term")
    a("--decay_steps", type=int, default=0, help="decay both learning rates linearly to 0 over the last N steps")
    a("--no-flip", dest="flip", action="store_false", help="no random horizontal flips")
    a("--num_sample_pairs", type=int, default=8, help="rows of the sample grid (held-out pairs if any)")
    a("--eval_steps", type=int, default=0, help="also score the held-out pairs every N steps (always at the end)")
    a("--palette_metric", default="auto", choices=["auto", "yes", "no"],
      help="score generated maps by the map palette (mIoU); auto: when the target column is named 'map'")
    return parser.parse_args(argv)


def load_pairs(args):
    """Both image columns decoded once: uint8 N x 3 x load_size x load_size each, and their names."""
    ds = load_hf_dataset(args.dataset, args.split, args.dataset_config)
    args.a_column, args.b_column = pair_columns(ds.column_names, args.a_column, args.b_column)
    if args.max_rows is not None:
        ds = ds.select(range(min(args.max_rows, len(ds))))
    return images_to_uint8(ds[args.a_column], args.load_size), images_to_uint8(ds[args.b_column], args.load_size)


def jitter(a: torch.Tensor, b: torch.Tensor, crop: int, flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random crop (and flip) of each input and its target, drawn on their device."""
    n, _, size, _ = a.shape
    device = a.device
    offsets = torch.randint(0, size - crop + 1, (n, 2), device=device)
    rows = offsets[:, :1] + torch.arange(crop, device=device)   # n x crop
    cols = offsets[:, 1:] + torch.arange(crop, device=device)
    if flip:
        cols = torch.where(torch.rand(n, 1, device=device) < 0.5, cols.flip(1), cols)
    index = (torch.arange(n, device=device)[:, None, None, None], torch.arange(3, device=device)[None, :, None, None],
             rows[:, None, :, None], cols[:, None, None, :])
    return a[index], b[index]


def resize_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 N x 3 x H x W -> float [-1, 1] N x 3 x size x size (the evaluation's straight resize)."""
    x = to_float(images)
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                                       align_corners=False).clamp_(-1, 1)


def main(args) -> Path:
    # ---- data first (nothing is written before it loads): both columns decoded once; minus the held-out pairs;
    # kept on the training device
    with common.dataset_errors(args):
        images_a, images_b = load_pairs(args)
    accelerator = common.make_accelerator(args, "pix2pix")
    device = accelerator.device
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest convolutions
    crop = 2 ** args.num_downs
    if args.load_size < crop:
        raise SystemExit(f"error: --load_size {args.load_size} is smaller than the crop {crop} (2**num_downs)")
    train_idx, held_idx = holdout_split(len(images_a), args.holdout, args.holdout_seed)
    source, target = (images_a, images_b) if args.direction == "a2b" else (images_b, images_a)
    train_src, train_tgt = source[train_idx].to(device), target[train_idx].to(device)
    data = common.InMemoryBatches(torch.arange(len(train_idx)), batch_size=args.batch_size, seed=args.seed,
                                  process_index=accelerator.process_index, num_processes=accelerator.num_processes)
    shown = held_idx if len(held_idx) else train_idx
    sample_src = resize_to(source[shown[:args.num_sample_pairs]], crop).to(device)
    sample_tgt = resize_to(target[shown[:args.num_sample_pairs]], crop).to(device)
    calibration = resize_to(source[train_idx[:64]], crop).to(device)  # standing BatchNorm stats of the EMA G
    a_name, b_name = args.a_name or args.a_column, args.b_name or args.b_column
    to_name = b_name if args.direction == "a2b" else a_name
    palette = args.palette_metric == "yes" or (args.palette_metric == "auto" and to_name == "map")
    judge = (Judge(source[held_idx], target[held_idx], crop, palette)
             if len(held_idx) and accelerator.is_main_process else None)
    accelerator.print(f"{len(train_idx)} training pairs ({len(held_idx)} held out), {args.direction}: "
                      f"{a_name if args.direction == 'a2b' else b_name} -> {to_name}, {data.steps_per_epoch} steps/epoch")

    # ---- models and optimizers
    unet = dict(base_channels=args.g_channels, num_downs=args.num_downs, max_mult=args.g_max_mult,
                dropout=args.dropout)
    patch = dict(in_channels=6, base_channels=args.d_channels, num_layers=args.d_layers)
    carried_g, carried_d = carried_directions(args.resume_from_weights, args.direction)
    G = Pix2PixGenerator(**{args.direction: unet}, **carried_g, a_name=a_name, b_name=b_name)
    D = Pix2PixDiscriminator(**{args.direction: patch}, **carried_d)
    for other in carried_g:  # the folder's other direction rides along untouched, and is saved with this one
        G.nets[other].requires_grad_(False)
        D.nets[other].requires_grad_(False)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    G, D, D_plain, opt_g, opt_d, ema, state = common.prepare_gan(accelerator, args, G, D)
    log = common.MetricLog(accelerator, args.output_dir, args.max_steps, state.step)
    direction = args.direction

    def standing_stats():  # (this direction's U-Net only: a carried one keeps its statistics)
        common.recalibrate_batchnorm(ema.model.nets[direction], lambda i: (calibration[i * 16:(i + 1) * 16],),
                                     num_batches=max(1, len(calibration) // 16))

    best_dir = Path(args.output_dir) / "best_generator"

    def evaluate(step):
        """Score the EMA generator on the held-out pairs; keep the best one so far (with D) in best_generator/."""
        standing_stats()
        result = judge(ema.model, direction)
        common.log_eval(accelerator, args.output_dir, step, result)
        common.keep_if_best(best_dir, result, lambda new, best: quality(new) > quality(best),
                            lambda: Pix2PixPipeline(ema.model), discriminator=D_plain, step=step,
                            ema_updates=int(ema.num_updates))
        return result

    deadline = common.Deadline(args.max_minutes, accelerator)
    G.train(); D.train()
    while state.step < args.max_steps and not deadline.reached(state.step):
        step = state.step
        common.linear_decay(step, args.max_steps, args.decay_steps, (opt_g, args.lr_g), (opt_d, args.lr_d))
        (idx,) = data.batch(step)
        if device.type == "cuda":
            idx = idx.pin_memory().to(device, non_blocking=True)  # no wait on the GPU for the indices
        real_in, real_out = jitter(train_src[idx], train_tgt[idx], crop, args.flip)
        real_in = to_float(real_in).contiguous(memory_format=torch.channels_last)
        real_out = to_float(real_out).contiguous(memory_format=torch.channels_last)
        n = real_in.shape[0]

        # ---- discriminator step: (input, target) pairs up, (input, G(input)) pairs down
        fake = G(real_in, direction)
        real_logits = D(real_in, real_out, direction)
        fake_logits = D(real_in, fake.detach(), direction)
        d_loss = 0.5 * discriminator_loss(args.loss, real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        accelerator.backward(d_loss)
        opt_d.step()

        # ---- generator step: fool D on every patch, and stay close to the target (L1)
        g_logs = {}
        if step >= args.d_warmup_steps:  # (G waits while a fresh D catches up, if asked)
            D_plain.requires_grad_(False)
            g_adv = generator_loss(args.loss, D_plain(real_in, fake, direction))
            g_l1 = (fake - real_out).abs().mean()
            g_loss = g_adv + args.l1_weight * g_l1
            opt_g.zero_grad(set_to_none=True)
            accelerator.backward(g_loss)
            opt_g.step()
            D_plain.requires_grad_(True)
            ema.update(accelerator.unwrap_model(G))
            g_logs = {"g_adv": g_adv, "g_l1": g_l1}

        state.step += 1
        log.add(n, d_loss=d_loss, **g_logs, d_real=torch.sigmoid(real_logits.detach()),
                d_fake=torch.sigmoid(fake_logits.detach()))
        if state.step % args.log_steps == 0:
            log.flush(state.step)
        if state.step % args.sample_steps == 0 or state.step == args.max_steps:
            if accelerator.is_main_process:
                standing_stats()
                save_grid(ema.model, direction, sample_src, sample_tgt,
                          Path(args.output_dir) / "samples" / f"step-{state.step:07d}.png")
            accelerator.wait_for_everyone()
        if state.step % args.checkpointing_steps == 0 or state.step == args.max_steps:
            common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
        if args.snapshot_steps and state.step % args.snapshot_steps == 0:
            if accelerator.is_main_process:
                standing_stats()
            common.save_snapshot(lambda: Pix2PixPipeline(ema.model), args.output_dir, state.step, accelerator)
        if judge and args.eval_steps and state.step % args.eval_steps == 0 and state.step != args.max_steps:
            evaluate(state.step)  # main process only; the others wait at the next step's gradient all-reduce
        if args.push_to_hub and args.push_every_steps and state.step % args.push_every_steps == 0:
            finish(accelerator, ema, D_plain, state.step, args, standing_stats, sample_src, sample_tgt, None,
                   push=True)

    if state.step % args.checkpointing_steps and state.step != args.max_steps:  # stopped by --max_minutes
        common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
    result = evaluate(state.step) if judge else None
    best = common.read_best(best_dir) if judge else None
    kept = None
    if best is not None and best["step"] != state.step:  # an earlier evaluation scored better: keep that one
        accelerator.print(f"the best held-out score was at step {best['step']}: saving that generator (and its D)")
        ema.model.load_state_dict(Pix2PixGenerator.load_strict(common.generator_folder(best_dir)).state_dict())
        result, kept = best, best_dir
    folder = finish(accelerator, ema, D_plain, state.step, args, standing_stats, sample_src, sample_tgt, result,
                    push=args.push_to_hub, kept=kept)
    accelerator.end_training()
    return folder


def carried_directions(folder, direction: str) -> tuple[dict, dict]:
    """The U-Net and PatchGAN configs of the directions a ``--resume_from_weights`` folder holds besides the one this
    run trains (the gallery's maps folder holds both, merged by merge_pix2pix.py): they are built too, so the folder
    loads whole, frozen, and saved again as they were."""
    if not folder:
        return {}, {}
    from gan_models.core.modeling import CONFIG_NAME
    from gan_models.core.pipelines import DISCRIMINATOR_DIR

    configs = []
    for part in (common.generator_folder(folder), Path(folder) / DISCRIMINATOR_DIR):
        try:
            config = json.loads((part / CONFIG_NAME).read_text())
        except (OSError, json.JSONDecodeError):
            return {}, {}  # not a two-direction folder: common.load_gan_folder says what is wrong with it
        configs.append({d: config[d] for d in ("a2b", "b2a") if d != direction and isinstance(config.get(d), dict)})
    g, d = configs
    if set(g) != set(d):
        raise SystemExit(f"error: --resume_from_weights {folder}: its generator holds the directions {sorted(g)} "
                         f"besides {direction}, its discriminator {sorted(d)}: they must match")
    return g, d


def quality(result: dict) -> float:
    """Higher is better: the palette mIoU where the target is a map, else minus the L1."""
    return result["miou"] if "miou" in result else -result["l1"]


class Judge:
    """The held-out pairs, resized to one tile: L1 to the target, and the palette scores for maps."""

    def __init__(self, source: torch.Tensor, target: torch.Tensor, size: int, palette: bool):
        self.source, self.target, self.size, self.palette = source, target, size, palette

    @torch.no_grad()
    def __call__(self, generator, direction: str) -> dict:
        device = next(generator.parameters()).device
        real = resize_to(self.target, self.size)
        fake = torch.cat([generator(resize_to(x, self.size).to(device), direction).float().cpu()
                          for x in self.source.split(16)])
        result = {"l1": round(float((fake - real).abs().mean()), 4), "num_pairs": len(real)}
        if self.palette:
            from gan_models.data import to_uint8

            scores = palette_scores(to_uint8(fake), to_uint8(real))
            result.update(miou=scores["miou"], pixel_accuracy=scores["pixel_accuracy"], iou=scores["iou"])
        return result


@torch.no_grad()
def save_grid(generator, direction, inputs, targets, path: Path) -> None:
    """Rows of input | output | target."""
    outputs = generator(inputs, direction).float()
    rows = torch.stack([inputs.float(), outputs, targets.float()], 1).flatten(0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    common.image_grid(rows, nrow=3).save(path)


def finish(accelerator, ema, D, train_step, args, standing_stats, sample_src, sample_tgt, result, push: bool,
           kept: Path | None = None) -> Path:
    """Save the pipeline around the EMA generator (or the ``kept`` best folder, with its D) with a sample grid, its
    scores and a model card; push if asked. ``--resume_from_weights`` continues from this folder."""
    folder = Path(args.output_dir) / "pipeline"
    if accelerator.is_main_process:
        standing_stats()
        generator, step = ema.model, (result["step"] if result and "step" in result else train_step)
        common.final_folder(args.output_dir, lambda: Pix2PixPipeline(generator), discriminator=D, step=train_step,
                            ema_updates=int(ema.num_updates), kept=kept)
        save_grid(generator, args.direction, sample_src, sample_tgt, folder / "samples.png")
        metrics, note = {}, ""
        if result:
            result = {k: v for k, v in result.items() if k != "step"}
            (folder / "metrics.json").write_text(json.dumps({"step": step, **result}, indent=1) + "\n")
            metrics = {"l1 (held-out pairs, [-1, 1] units)": result["l1"]}
            if "miou" in result:
                metrics.update({"palette mIoU": result["miou"], "palette pixel accuracy": result["pixel_accuracy"],
                                **{f"IoU {k}": v for k, v in result["iou"].items()}})
            note = (f"On the {result['num_pairs']} pairs held out from training (--holdout {args.holdout}, seed "
                    f"{args.holdout_seed}), each resized to one tile, at step {step}.")
        g = ema.model
        src, dst = (g.a_name, g.b_name) if args.direction == "a2b" else (g.b_name, g.a_name)
        common.write_model_card(
            folder, title=f"pix2pix {src} -> {dst} (GAN Gallery)", pipeline_tag="image-to-image",
            dataset=args.dataset, license="other", tags=["pix2pix", "image-to-image"], metrics=metrics,
            metrics_note=note,
            description=(f"A pix2pix generator ({src} -> {dst}): U-Net with {args.num_downs} levels, width "
                         f"{args.g_channels} (at most {args.g_channels * args.g_max_mult} channels), trained {step} "
                         f"steps of batch {args.batch_size} on `{args.dataset}` against a 70x70 PatchGAN, "
                         f"`{args.loss}` loss + {args.l1_weight:g} x L1; the weights are the EMA generator's. "
                         "This folder holds one direction; training/merge_pix2pix.py joins two into one folder."),
            usage=("from gan_models.maps.pipeline import Pix2PixPipeline\n"
                   f"pipe = Pix2PixPipeline.from_pretrained(\"{args.hub_model_id or folder}\")\n"
                   f"image = pipe(\"input.png\", direction=\"{args.direction}\").images[0]"),
        )
        if push:
            common.push_folder(folder, args, commit_message=f"pix2pix {args.direction} EMA generator at step {step}",
                               remote_module=Pix2PixPipeline.remote_module)
    accelerator.wait_for_everyone()
    return folder


if __name__ == "__main__":
    main(parse_args())
