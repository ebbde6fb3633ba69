"""Super-resolution scores: PSNR and SSIM on the Y channel (BasicSR's convention), and a sharpness measure.

BasicSR (and the SR papers' tables): both pictures are rounded to 8-bit, converted to the
luma Y of ITU-R BT.601 (16-235), a border of ``crop`` pixels (the scale) is left out, then
PSNR = 10 log10(255^2 / MSE) per picture, and SSIM (Wang et al. 2004) with an 11x11 Gaussian
window (sigma 1.5) over the valid region; both averaged over the pictures.

``high_frequency_energy``: the mean squared response of a Laplacian on Y, the share of the
picture's energy in its finest detail. Blur lowers it; texture (real or invented) raises it;
a real HR picture's value is the target. It is not a quality score on its own: noise raises
it too, so it is read beside PSNR and a distribution distance (KID).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def luma(images: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W in [-1, 1] -> N x 1 x H x W, BT.601 Y of the 8-bit picture (16-235), float64."""
    rgb = ((images.double().clamp(-1, 1) + 1) * 127.5).round()  # what a saved PNG holds
    weights = torch.tensor([65.481, 128.553, 24.966], dtype=torch.float64) / 255
    return (rgb * weights.view(1, 3, 1, 1)).sum(1, keepdim=True) + 16.0


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def psnr_ssim_y(sr: torch.Tensor, hr: torch.Tensor, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-picture (PSNR dB, SSIM) of ``sr`` against ``hr`` (both N x 3 x H x W in [-1, 1]) on Y, border cropped."""
    if sr.shape != hr.shape:
        raise ValueError(f"sr {tuple(sr.shape)} and hr {tuple(hr.shape)} differ in shape")
    a, b = luma(sr), luma(hr)
    if crop:
        a, b = a[..., crop:-crop, crop:-crop], b[..., crop:-crop, crop:-crop]
    mse = (a - b).pow(2).flatten(1).mean(1)
    psnr = 10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10))
    w = _gaussian_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = F.conv2d(a, w), F.conv2d(b, w)
    var_a = F.conv2d(a * a, w) - mu_a ** 2
    var_b = F.conv2d(b * b, w) - mu_b ** 2
    cov = F.conv2d(a * b, w) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return psnr.float(), ssim_map.flatten(1).mean(1).float()


def high_frequency_energy(images: torch.Tensor, crop: int = 0) -> torch.Tensor:
    """Per-picture mean squared Laplacian of Y (8-bit units squared): the energy of the finest detail."""
    y = luma(images)
    if crop:
        y = y[..., crop:-crop, crop:-crop]
    kernel = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float64)[None, None]
    return F.conv2d(y, kernel).pow(2).flatten(1).mean(1).float()


# ----------------------------------------------------------------------------- the held-out evaluation
DOMAINS = (  # (name, dataset folder, image column, decoded square size): the training script's datasets
    ("faces", "../shared/data/celeba-faces-64", "image", 64),
    ("birds", "../shared/data/cub-birds", "image", 128),
    ("maps", "../shared/data/maps", "aerial", 286),
)
METHODS = ("bicubic", "srresnet", "srgan")


def held_out_hr(dataset: str, column: str, size: int, holdout: int, seed: int, scale: int = 4,
                floor_rows: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The rows train_srgan.py holds out (--holdout, --holdout_seed), decoded as it decodes them and centre-cropped
    to a multiple of 16 x scale (maps: 286 -> 256, native pixels), uint8; and ``floor_rows`` training rows the same
    way (the real-vs-real floor of a distribution distance at this count)."""
    from ..data import holdout_split, images_to_uint8, load_hf_dataset

    ds = load_hf_dataset(dataset)
    train_idx, held_idx = holdout_split(len(ds), holdout, seed)  # the split train_srgan.py draws (same row count)
    multiple = 16 * scale if size >= 16 * scale else scale
    keep = size // multiple * multiple
    top = (size - keep) // 2

    def decode(rows):  # only these rows, decoded as training decodes them (square_image at ``size``)
        images = images_to_uint8(ds.select(rows.tolist())[column], size)
        return images[:, :, top:top + keep, top:top + keep].contiguous()

    return decode(held_idx), (decode(train_idx[:floor_rows]) if floor_rows else None)


def downscale_uint8(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """uint8 HR -> the LR input in [-1, 1]: bicubic with antialias, rounded to 8-bit (as train_srgan.py makes it)."""
    x = hr.float() / 127.5 - 1
    lr = F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    return (lr.clamp(-1, 1) * 127.5).round() / 127.5


@torch.inference_mode()
def upscale_all(pipe, lr: torch.Tensor, method: str, batch: int = 16) -> torch.Tensor:
    """N x 3 x h x w LR in [-1, 1] -> N x 3 x sh x sw in [-1, 1] through the pipeline's own path (clamped)."""
    outs = []
    for x in lr.split(batch):
        outs += [pipe.upscale(x[i:i + 1], method)[0] for i in range(len(x))]
    return torch.cat(outs)


def evaluate_superres(pipe, holdout: int = 200, holdout_seed: int = 0, kid_images: int = 100, features=None,
                      domains=DOMAINS, methods=METHODS, floor: bool = True) -> dict:
    """Bicubic, SRResNet and SRGAN on each domain's held-out pictures.

    PSNR / SSIM on Y (border of ``scale`` cropped) over all ``holdout`` pictures; the high-frequency energy of
    the outputs as a share of the real HR pictures'; with ``features`` (InceptionFeatures), KID and FID of the
    first ``kid_images`` outputs against the same count of real held-out HR pictures, beside the floor: the same
    count of *training* HR pictures against the held-out ones.
    """
    from .metrics import fid_kid

    pipe.set_progress_bar_config(disable=True)
    s = pipe.scale
    result = {"demo": "superres", "scale": s, "holdout": holdout, "holdout_seed": holdout_seed,
              "kid_images": kid_images if features else 0, "domains": {}}
    for name, dataset, column, size in domains:
        hr_u8, floor_u8 = held_out_hr(dataset, column, size, holdout, holdout_seed, s,
                                      floor_rows=kid_images if features and floor else 0)
        hr = hr_u8.float() / 127.5 - 1
        lr = downscale_uint8(hr_u8, s)
        hfe_real = float(high_frequency_energy(hr, s).mean())
        scores = {"num_images": len(hr), "hr_size": hr.shape[-1], "lr_size": lr.shape[-1], "methods": {}}
        real_feats = features(hr_u8[:kid_images]) if features else None
        if features and floor:
            scores["floor"] = {k: v for k, v in fid_kid(real_feats, features(floor_u8)).items()
                               if k in ("fid", "kid", "kid_std", "num_real", "num_fake")}
        for method in methods:
            sr = upscale_all(pipe, lr, method)
            psnr, ssim = psnr_ssim_y(sr, hr, s)
            row = {"psnr": round(float(psnr.mean()), 3), "ssim": round(float(ssim.mean()), 4),
                   "hf_energy_vs_real": round(float(high_frequency_energy(sr, s).mean()) / hfe_real, 3)}
            if features:
                sr_u8 = ((sr[:kid_images] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
                got = fid_kid(real_feats, features(sr_u8))
                row.update(fid=got["fid"], kid=got["kid"])
            scores["methods"][method] = row
        result["domains"][name] = scores
    return result


def superres_markdown(result: dict) -> str:
    """The measured table: one row per domain and method."""
    kid = result.get("kid_images")
    head = "| domain | method | PSNR-Y (dB) | SSIM-Y | HF energy / real |" + (" FID | KID |" if kid else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, d in result["domains"].items():
        for method, r in d["methods"].items():
            line = f"| {name} ({d['lr_size']}->{d['hr_size']}) | {method} | {r['psnr']:.2f} | {r['ssim']:.4f} | " \
                   f"{r['hf_energy_vs_real']:.2f} |"
            if kid:
                line += f" {r['fid']:.1f} | {r['kid']:.4f} |"
            lines.append(line)
        if kid and "floor" in d:
            f = d["floor"]
            lines.append(f"| {name} | real vs real (floor) | | | 1.00 | {f['fid']:.1f} | {f['kid']:.4f} |")
    note = (f"\n{next(iter(result['domains'].values()))['num_images']} held-out pictures per domain "
            f"(--holdout {result['holdout']}, seed {result['holdout_seed']}); PSNR/SSIM on Y with a "
            f"{result['scale']}-pixel border cropped.")
    if kid:
        note += (f" FID/KID: Inception-v3 features of the first {kid} outputs against {kid} real held-out HR "
                 f"pictures; the floor is {kid} training pictures against the same {kid}.")
    return "\n".join(lines) + "\n" + note + "\n"


def main(argv=None):
    import argparse
    import json
    import time
    from pathlib import Path

    parser = argparse.ArgumentParser(description="Score bicubic, SRResNet and SRGAN on the held-out pictures.")
    parser.add_argument("--weights", default=None, help="pipeline folder (default: the embedded weights)")
    parser.add_argument("--holdout", type=int, default=200)
    parser.add_argument("--holdout_seed", type=int, default=0)
    parser.add_argument("--kid_images", type=int, default=100, help="0: no FID/KID (no Inception weights needed)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated, of " + ", ".join(METHODS))
    parser.add_argument("--domains", default=",".join(d[0] for d in DOMAINS),
                        help="comma-separated, of " + ", ".join(d[0] for d in DOMAINS))
    parser.add_argument("--no_floor", action="store_true", help="skip the real-vs-real floor of FID/KID")
    parser.add_argument("--merge", default=None, help="a results .json of an earlier run to add these methods to")
    parser.add_argument("--out", default=None, help="write <out>.json and <out>.md")
    args = parser.parse_args(argv)
    from ..registry import DEMOS

    demo = DEMOS["superres"]
    pipe = demo.pipeline.from_pretrained(args.weights or demo.embedded)
    features = None
    if args.kid_images:
        from .metrics import InceptionFeatures

        features = InceptionFeatures()
    t0 = time.perf_counter()
    methods = tuple(m for m in args.methods.split(",") if m)
    if not set(methods) <= set(METHODS):
        parser.error(f"--methods: choose from {', '.join(METHODS)}")
    domains = tuple(d for d in DOMAINS if d[0] in args.domains.split(","))
    result = evaluate_superres(pipe, args.holdout, args.holdout_seed, args.kid_images, features, methods=methods,
                               floor=not args.no_floor, domains=domains)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["weights"] = {m: str(args.weights or demo.embedded) for m in methods}
    if args.merge:  # the same held-out sets and counts, other methods (or weights): one table
        earlier = json.loads(Path(args.merge).read_text())
        for key in ("holdout", "holdout_seed", "kid_images", "scale"):
            if earlier[key] != result[key]:
                raise SystemExit(f"error: --merge {args.merge} has {key} {earlier[key]}, this run {result[key]}")
        for name, d in result["domains"].items():
            earlier["domains"][name]["methods"].update(d["methods"])
            earlier["domains"][name]["methods"] = {m: earlier["domains"][name]["methods"][m] for m in METHODS
                                                   if m in earlier["domains"][name]["methods"]}
        earlier["weights"] = {**earlier.get("weights", {}), **result["weights"]}
        earlier["seconds"] = round(earlier.get("seconds", 0) + result["seconds"], 1)
        result = earlier
    print(json.dumps(result, indent=1))
    print(superres_markdown(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n")
        Path(f"{args.out}.md").write_text(superres_markdown(result))


if __name__ == "__main__":
    main()
