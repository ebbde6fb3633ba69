"""Why a model can gain in Inception FID and lose in the face space: how spread out its faces are as identities.

    python benchmarks/face_space_spread.py --num 1000 --out benchmarks/results/face_space_spread.json

For the held-out real faces, 1,000 training faces, and 1,000 faces of each Faces model (psi 1, the seeds the
evaluation uses), dlib's face descriptors (gan_models/judges/face_eval.py) and, per set:
- spread: the total variance of the descriptors (the trace of their covariance): how varied the identities are;
- mean pairwise distance between descriptors, and the share of pairs closer than dlib's "same person" line (0.6);
- against the held-out set, the Fréchet distance split into its two terms: the squared distance between the
  means (a shifted average face) and the covariance term (a different spread or shape of identities).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_models.judges.evaluate import generate_uint8  # noqa: E402
from gan_models.judges.face_eval import FaceDescriptor, reference_sets  # noqa: E402
from gan_models.judges.metrics import frechet_distance  # noqa: E402
from gan_models.registry import DEMOS  # noqa: E402

SAME_PERSON = 0.6  # dlib's threshold: descriptors closer than this are taken for the same person


def spread(x: np.ndarray) -> dict:
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))[np.triu_indices(len(x), 1)]
    return {"spread (trace of covariance)": round(float(np.trace(np.cov(x, rowvar=False))), 4),
            "mean pairwise distance": round(float(d.mean()), 4),
            f"pairs closer than {SAME_PERSON}": round(float((d < SAME_PERSON).mean()), 4)}


def fd_terms(real: np.ndarray, other: np.ndarray) -> dict:
    """metrics.frechet_distance, split: its mean term, and the rest (the covariance term)."""
    fd = frechet_distance(real, other)
    mu = float(((real.mean(0) - other.mean(0)) ** 2).sum())
    return {"FD": round(fd, 4), "FD mean term": round(mu, 4), "FD covariance term": round(fd - mu, 4)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="../shared/data/celeba-faces-64")
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/face_space_spread.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    describe = FaceDescriptor()
    held, train = reference_sets(args.dataset, args.num)
    sets = {"held-out real faces": held, "training faces": train}
    for name, demo in (("DCGAN", "faces"), ("style-based", "style_faces")):
        pipe = DEMOS[demo].pipeline.from_pretrained(DEMOS[demo].embedded)
        sets[f"{name} (psi 1)"] = generate_uint8(pipe, args.num)
    feats = {name: describe(images) for name, images in sets.items()}
    rows = {name: {**spread(f), **({} if name == "held-out real faces" else fd_terms(feats["held-out real faces"], f))}
            for name, f in feats.items()}
    for name, row in rows.items():
        print(name, row)
    out = {"num_per_set": args.num, "dataset": args.dataset, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
