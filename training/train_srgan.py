"""Train SRResNet (phase 1, pixel loss) and SRGAN (phase 2, + adversarial and feature losses) for 4x upscaling.

    # phase 1: SRResNet on the pixel loss, from faces, bird crops and aerial photos together
    accelerate launch training/train_srgan.py --phase pixel --output_dir runs/srresnet --holdout 200 \\
        --dataset ../shared/data/celeba-faces-64 --add_dataset ../shared/data/cub-birds image 128 \\
        --add_dataset ../shared/data/maps aerial 286
    # phase 2: SRGAN, the same generator fine-tuned against the discriminator
    accelerate launch training/train_srgan.py --phase gan --init_generator runs/srresnet/pipeline/srresnet \\
        --output_dir runs/srgan --holdout 200 --dataset ... (the same datasets)
    python training/train_srgan.py --dataset huggan/CelebA-faces --image_size 64 ...   # any image dataset

High-resolution (HR) training patches of ``--patch_size`` pixels are cut at random (with
horizontal flips) from each dataset's pictures, decoded once at ``--image_size`` (or the
size given with ``--add_dataset``): every batch takes the same share from each dataset. The
low-resolution (LR) input is made from the patch by bicubic downscaling with antialias
(``F.interpolate(..., mode="bicubic", antialias=True)``), rounded to 8-bit like any picture
a user uploads. Real-world degradations (noise, JPEG, blur) are out of scope.

Phase ``pixel``: G alone, L1 to the HR patch (EDSR's choice over the paper's MSE: it trains
faster and ends at about the same PSNR). The discriminator exists (it is checkpointed) but
takes no step. Phase ``gan`` (Ledig et al. 2017): D learns to tell HR patches from G's 4x
outputs; G minimises ``--pixel_weight`` x L1 + ``--feature_weight`` x the feature loss +
``--adv_weight`` x the non-saturating adversarial loss. The feature loss is the L1 distance
between frozen EfficientNet-Lite0 features (gan_models/feature_networks.py) of the output and
of the HR patch, at the ends of its stride-4 and stride-8 stages (24 and 40 channels, the
outputs of MBConv blocks 2 and 4 before any activation, as ESRGAN takes VGG's features before
the ReLU): these layers respond to edges and textures at the scale of a few pixels, which is
what a 4x upscale has to invent; the stride-16 and -32 stages are 4x4 and 2x2 maps of a 64x64
patch, near-global, and say what the patch shows (a face, a bird), which G cannot get wrong.
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
from gan_models.data import holdout_split, load_image_tensor, to_float  # noqa: E402
from gan_models.losses import LOSSES, discriminator_loss, generator_loss  # noqa: E402
from gan_models.superres.pipeline import SuperResolutionPipeline  # noqa: E402
from gan_models.superres.srgan import SRGANDiscriminator, SRResNetGenerator  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(parser, run_name="superres", dataset="huggan/CelebA-faces",
                           local_dataset="../shared/data/celeba-faces-64", batch_size=18, max_steps=20_000, lr=2e-4)
    a = parser.add_argument
    a("--phase", default="pixel", choices=["pixel", "gan"],
      help="pixel: SRResNet (first); gan: SRGAN (fine-tune it with D, from --init_generator)")
    a("--image_column", default="image", help="the image column of --dataset")
    a("--image_size", type=int, default=64, help="--dataset's pictures are decoded to this square (centre crop)")
    a("--add_dataset", nargs=3, action="append", default=[], metavar=("DATASET", "COLUMN", "SIZE"),
      help="another dataset to train on as well (repeatable): name or folder, image column, square size")
    a("--domain_shares", type=float, nargs="+", default=None, metavar="SHARE",
      help="relative share of each dataset in a batch, in the order --dataset, then each --add_dataset "
      "(default: equal shares)")
    a("--patch_size", type=int, default=64, help="HR training patch; the LR input is patch_size / scale")
    a("--scale", type=int, default=4, choices=[2, 4, 8])
    a("--g_channels", type=int, default=32)
    a("--g_blocks", type=int, default=12, help="residual blocks (the paper's 16, width 64, is 5x slower here)")
    a("--d_channels", type=int, default=32)
    a("--loss", default="ns", choices=LOSSES, help="adversarial loss of phase gan")
    a("--pixel_weight", type=float, default=1.0, help="weight of the L1 pixel loss (both phases)")
    a("--feature_weight", type=float, default=0.05, help="phase gan: weight of the EfficientNet feature loss")
    a("--adv_weight", type=float, default=5e-3, help="phase gan: weight of the adversarial loss (ESRGAN's 5e-3)")
    a("--decay_steps", type=int, default=0, help="decay both learning rates linearly to 0 over the last N steps "
      "(a function of the step: a resumed run with a larger --max_steps follows the new schedule)")
    a("--eval_steps", type=int, default=1000, help="PSNR of the held-out pictures every N steps (needs --holdout)")
    a("--eval_images", type=int, default=64, help="held-out pictures per dataset scored during training")
    args = parser.parse_args(argv)
    n_domains = 1 + len(args.add_dataset)
    if args.domain_shares is not None and (len(args.domain_shares) != n_domains
                                           or not all(0 < x < float("inf") for x in args.domain_shares)):
        parser.error(f"--domain_shares needs {n_domains} positive numbers, one per dataset")
    if args.patch_size % args.scale:
        parser.error(f"--patch_size {args.patch_size} must be a multiple of --scale {args.scale}")
    return args


def load_domains(args) -> list[dict]:
    """Each dataset decoded once to uint8 N x 3 x S x S, split into training and held-out rows."""
    specs = [(args.dataset, args.image_column, args.image_size)] + [(d, c, int(s)) for d, c, s in args.add_dataset]
    domains = []
    for name, column, size in specs:
        if size < args.patch_size:
            raise SystemExit(f"error: {name} is decoded at {size}x{size}, smaller than --patch_size {args.patch_size}")
        images = load_image_tensor(name, column, size, "RGB", args.split, args.dataset_config, max_rows=args.max_rows)
        train_idx, held_idx = holdout_split(len(images), args.holdout, args.holdout_seed)
        held = images[held_idx]
        multiple = 16 * args.scale if size >= 16 * args.scale else args.scale
        keep = size // multiple * multiple  # scored whole, centre-cropped to a multiple of 64 (maps: 286 -> 256)
        top = (size - keep) // 2
        domains.append({"name": Path(name).name, "train": images[train_idx],
                        "held": held[:, :, top:top + keep, top:top + keep]})
    return domains


def hr_patches(domains, step: int, args, rank: int, device) -> torch.Tensor:
    """The step's HR batch, float [-1, 1] N x 3 x P x P: an equal share of random crops (flipped at random) from
    each dataset, a pure function of (seed, step, process), so a resumed run sees the data an unbroken one would."""
    g = torch.Generator().manual_seed((args.seed * 1_000_003 + step) * 64 + rank)
    shares = batch_shares(args.batch_size, args.domain_shares or [1.0] * len(domains))
    p, patches = args.patch_size, []
    for domain, k in zip(domains, shares):
        images = domain["train"]
        size = images.shape[-1]
        idx = torch.randint(len(images), (k,), generator=g)
        ys, xs = torch.randint(size - p + 1, (k,), generator=g), torch.randint(size - p + 1, (k,), generator=g)
        flips = torch.rand(k, generator=g) < 0.5
        for i, y, x, f in zip(idx.tolist(), ys.tolist(), xs.tolist(), flips.tolist()):
            crop = images[i, :, y:y + p, x:x + p]
            patches.append(crop.flip(-1) if f else crop)
    return to_float(torch.stack(patches).to(device))


def batch_shares(batch_size: int, weights: list[float]) -> list[int]:
    """Split a batch among the datasets in proportion to ``weights`` (largest remainder; equal weights give the
    first datasets one more when the batch does not divide)."""
    exact = [batch_size * w / sum(weights) for w in weights]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:batch_size - sum(shares)]:
        shares[i] += 1
    return shares


def downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """HR in [-1, 1] -> LR: bicubic with antialias, then rounded to 8-bit levels (what an uploaded picture has)."""
    lr = F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    return (lr.clamp(-1, 1) * 127.5).round() / 127.5


def psnr_y(sr: torch.Tensor, hr: torch.Tensor, crop: int) -> torch.Tensor:
    """Per-image PSNR (dB) on the luma channel (BT.601 Y of 8-bit RGB), ``crop`` border pixels left out."""
    from gan_models.judges.superres_eval import psnr_ssim_y

    return psnr_ssim_y(sr, hr, crop)[0]


def main(args) -> Path:
    # ---- data first (nothing is written before it loads): every dataset decoded once, minus its held-out rows
    with common.dataset_errors(args):
        domains = load_domains(args)
    accelerator = common.make_accelerator(args, "srgan")
    device = accelerator.device
    for d in domains:
        accelerator.print(f"{d['name']}: {len(d['train'])} training pictures of {d['train'].shape[-1]}x"
                          f"{d['train'].shape[-1]} ({len(d['held'])} held out)")
    if args.holdout == 0:
        args.eval_steps = 0

    # ---- models and optimizers (D takes no step in phase pixel, but is built and checkpointed all the same)
    G = SRResNetGenerator(args.g_channels, args.g_blocks, args.scale)
    D = SRGANDiscriminator(args.d_channels)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    srresnet, extra_state = None, ()
    if args.phase == "gan":
        if not args.init_generator:
            raise SystemExit("error: --phase gan fine-tunes a trained SRResNet: give --init_generator FOLDER "
                             "(also when resuming: the same command line)")
        common.init_generator(G, args.init_generator)  # (prepare_gan loads it again into G; the EMA starts from it)
        srresnet = copy.deepcopy(G).float().eval().requires_grad_(False)  # kept as the folder's srresnet
        extra_state = (srresnet,)                                          # and in every checkpoint
        from gan_models.feature_networks import EfficientNetLite0Features

        features = EfficientNetLite0Features().to(device)
    G, D, D_plain, opt_g, opt_d, ema, state = common.prepare_gan(accelerator, args, G, D, *extra_state)
    log = common.MetricLog(accelerator, args.output_dir, args.max_steps, state.step)

    def feature_loss(sr, hr):
        return sum(F.l1_loss(a, b) for a, b in zip(features(sr)[:2], features(hr)[:2])) / 2

    def pipeline():
        return SuperResolutionPipeline(srresnet=(srresnet if srresnet is not None else ema.model), srgan=ema.model)

    best_dir = Path(args.output_dir) / "best_generator"

    def evaluate(step):
        result = held_out_psnr(ema.model, domains, args, device)
        common.log_eval(accelerator, args.output_dir, step, result)
        if args.phase == "pixel":  # SRResNet is judged by PSNR: keep the best one (with its D)
            common.keep_if_best(best_dir, result, lambda new, best: new["psnr_mean"] > best["psnr_mean"], pipeline,
                                discriminator=D_plain, step=step, ema_updates=int(ema.num_updates))
        return result

    deadline = common.Deadline(args.max_minutes, accelerator)
    G.train(); D.train()
    while state.step < args.max_steps and not deadline.reached(state.step):
        step = state.step
        common.linear_decay(step, args.max_steps, args.decay_steps, (opt_g, args.lr_g), (opt_d, args.lr_d))
        hr = hr_patches(domains, step, args, accelerator.process_index, device).contiguous(
            memory_format=torch.channels_last)
        lr = downscale(hr, args.scale)
        n = hr.shape[0]
        logs = {}

        if args.phase == "pixel":
            # ---- SRResNet: the pixel loss alone
            sr = G(lr)
            g_loss = args.pixel_weight * F.l1_loss(sr, hr)
            opt_g.zero_grad(set_to_none=True)
            accelerator.backward(g_loss)
            opt_g.step()
            ema.update(accelerator.unwrap_model(G))
            logs = {"g_pixel": g_loss}
        else:
            # ---- discriminator step: HR patches up, G's upscales down
            sr = G(lr)
            real_logits = D(hr)
            fake_logits = D(sr.detach())
            d_loss = discriminator_loss(args.loss, real_logits, fake_logits)
            opt_d.zero_grad(set_to_none=True)
            accelerator.backward(d_loss)
            opt_d.step()

            # ---- generator step: stay close in pixels and in features, and make D call the upscale real
            if step >= args.d_warmup_steps:
                D_plain.requires_grad_(False)
                g_pixel = F.l1_loss(sr, hr)
                g_feature = feature_loss(sr, hr)
                g_adv = generator_loss(args.loss, D_plain(sr))
                g_loss = args.pixel_weight * g_pixel + args.feature_weight * g_feature + args.adv_weight * g_adv
                opt_g.zero_grad(set_to_none=True)
                accelerator.backward(g_loss)
                opt_g.step()
                D_plain.requires_grad_(True)
                ema.update(accelerator.unwrap_model(G))
                logs = {"g_pixel": g_pixel, "g_feature": g_feature, "g_adv": g_adv}
            logs.update(d_loss=d_loss, d_real=torch.sigmoid(real_logits.detach()),
                        d_fake=torch.sigmoid(fake_logits.detach()))

        state.step += 1
        log.add(n, **logs)
        if state.step % args.log_steps == 0:  # with the learning rates the optimizers used for the last step
            log.flush(state.step, lr_g=opt_g.param_groups[0]["lr"], lr_d=opt_d.param_groups[0]["lr"])
        if state.step % args.sample_steps == 0 or state.step == args.max_steps:
            if accelerator.is_main_process:
                save_grid(ema.model, domains, args, device, Path(args.output_dir) / "samples" / f"step-{state.step:07d}.png")
            accelerator.wait_for_everyone()
        if state.step % args.checkpointing_steps == 0 or state.step == args.max_steps:
            common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
        if args.snapshot_steps and state.step % args.snapshot_steps == 0:
            common.save_snapshot(pipeline, args.output_dir, state.step, accelerator)
        if args.eval_steps and accelerator.is_main_process and state.step % args.eval_steps == 0 \
                and state.step != args.max_steps:  # (the last step's is below)
            evaluate(state.step)
        if args.push_to_hub and args.push_every_steps and state.step % args.push_every_steps == 0:
            finish(accelerator, pipeline, D_plain, ema, state.step, args, None, push=True)

    if state.step % args.checkpointing_steps and state.step != args.max_steps:  # stopped by --max_minutes
        common.save_checkpoint(accelerator, args.output_dir, state.step, args.checkpoints_total_limit)
    result = evaluate(state.step) if args.eval_steps and accelerator.is_main_process else None
    folder = finish(accelerator, pipeline, D_plain, ema, state.step, args, result, push=args.push_to_hub)
    accelerator.end_training()
    return folder


@torch.no_grad()
def held_out_psnr(generator, domains, args, device) -> dict:
    """Mean Y-channel PSNR (border of ``scale`` pixels cropped) of the first ``--eval_images`` held-out pictures of
    each dataset, whole (not patches), and of bicubic for comparison."""
    from gan_models.superres.pipeline import bicubic

    result, gains = {}, []
    generator.eval()
    for d in domains:
        hr = to_float(d["held"][:args.eval_images])
        sr, bi = [], []
        for batch in hr.split(8):
            low = downscale(batch, args.scale)
            sr.append(generator(low.to(device)).float().cpu().clamp(-1, 1))
            bi.append(bicubic(low, args.scale).clamp(-1, 1))
        p_sr = float(psnr_y(torch.cat(sr), hr, args.scale).mean())
        p_bi = float(psnr_y(torch.cat(bi), hr, args.scale).mean())
        result[f"psnr_{d['name']}"], result[f"bicubic_{d['name']}"] = round(p_sr, 3), round(p_bi, 3)
        gains.append(p_sr - p_bi)
    result["psnr_mean"] = round(sum(result[f"psnr_{d['name']}"] for d in domains) / len(domains), 3)
    result["gain_min_db"] = round(min(gains), 3)
    return result


@torch.no_grad()
def save_grid(generator, domains, args, device, path: Path) -> None:
    """Rows of LR (bicubic-upscaled for display) | output | HR, two held-out (or training) crops per dataset."""
    from gan_models.superres.pipeline import bicubic

    p = args.patch_size
    hr = torch.cat([to_float((d["held"] if len(d["held"]) else d["train"])[:2, :, :p, :p]) for d in domains])
    low = downscale(hr, args.scale)
    sr = generator(low.to(device)).float().cpu().clamp(-1, 1)
    rows = torch.stack([bicubic(low, args.scale).clamp(-1, 1), sr, hr], 1).flatten(0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    common.image_grid(rows, nrow=3).save(path)  # (never committed: the crops are of the training data)


def finish(accelerator, pipeline, D, ema, train_step, args, result, push: bool) -> Path:
    """Save the pipeline (srresnet + the EMA generator as srgan; in phase pixel both are the EMA generator) with
    its D and training state, scores and a model card; push if asked."""
    folder = Path(args.output_dir) / "pipeline"
    if accelerator.is_main_process:
        common.final_folder(args.output_dir, pipeline, discriminator=D, step=train_step,
                            ema_updates=int(ema.num_updates))
        metrics, note = {}, ""
        if result:
            (folder / "metrics.json").write_text(json.dumps({"step": train_step, **result}, indent=1) + "\n")
            metrics = {k: v for k, v in result.items()}
            note = (f"Y-channel PSNR (dB, {args.scale}-pixel border cropped) of the first {args.eval_images} of the "
                    f"pictures held out of each dataset (--holdout {args.holdout}, seed {args.holdout_seed}), at "
                    f"step {train_step}; LR made by bicubic downscaling with antialias.")
        what = "SRResNet (pixel loss)" if args.phase == "pixel" else "SRGAN (pixel + feature + adversarial losses)"
        common.write_model_card(
            folder, title=f"{what}, {args.scale}x super-resolution (GAN Gallery)", pipeline_tag="image-to-image",
            dataset=args.dataset, license="other", tags=["srgan", "super-resolution", "image-to-image"],
            metrics=metrics, metrics_note=note,
            description=(f"An SRResNet generator (width {args.g_channels}, {args.g_blocks} residual blocks, "
                         f"{args.scale}x) trained {train_step} steps of batch {args.batch_size} ({args.patch_size}"
                         f"-pixel HR patches) in phase `{args.phase}` on `{args.dataset}`"
                         f"{''.join(f', `{d}`' for d, _, _ in args.add_dataset)}. Inputs are assumed to be clean "
                         "bicubic downscales: real-world degradations (noise, JPEG, blur) are out of scope."),
            usage=("from gan_models.superres.pipeline import SuperResolutionPipeline\n"
                   f"pipe = SuperResolutionPipeline.from_pretrained(\"{args.hub_model_id or folder}\")\n"
                   "image = pipe(\"small.png\", model=\"srgan\").images[0]"),
        )
        if push:
            common.push_folder(folder, args, commit_message=f"{args.phase} generator at step {train_step}",
                               remote_module=SuperResolutionPipeline.remote_module)
    accelerator.wait_for_everyone()
    return folder


if __name__ == "__main__":
    main(parse_args())
