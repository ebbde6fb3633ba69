"""How much a face-space FD moves from one draw of 1,000 faces to the next: is a gap between two models real?

    python benchmarks/face_fd_draws.py --out benchmarks/results/face_fd_draws.json
    python benchmarks/face_fd_draws.py --weights style_faces=runs/sf_export     # a candidate folder instead

For each Faces model, ``--draws`` sets of ``--num`` faces (psi 1) from disjoint seed ranges (the evaluation's own,
10,000,000 on, then 20,000,000 on, ...), each scored as gan_models/judges/face_eval.py scores it: the Fréchet
distance between dlib's face descriptors of those faces and of the 1,000 held-out faces (the same held-out set
every time, so what moves is the generated draw alone). A gap between two models smaller than the spread of
their draws is not a difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_models.hub.weights_source import load_demo  # noqa: E402
from gan_models.judges.evaluate import generate_uint8, held_out_features  # noqa: E402
from gan_models.judges.face_eval import FaceDescriptor, distances, reference_sets  # noqa: E402
from gan_models.registry import DEMOS  # noqa: E402

DATASET = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba-faces-64"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(DATASET))
    parser.add_argument("--models", default="faces,style_faces", help="registry demos (comma-separated)")
    parser.add_argument("--weights", action="append", default=[], metavar="DEMO=FOLDER",
                        help="score this folder for that demo instead of its embedded weights")
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folders = dict(w.split("=", 1) for w in args.weights)
    features = FaceDescriptor()
    held, _ = reference_sets(args.dataset, args.num)
    real = held_out_features(args.dataset, features, held)
    rows = {}
    for name in filter(None, args.models.split(",")):
        loaded = load_demo(DEMOS[name], folders.get(name), None, use_hub=False)  # as face_eval loads it
        pipe = loaded.pipeline
        fds = [distances(real, features(generate_uint8(pipe, args.num, seed_offset=(k + 1) * 10_000_000)))["fd"]
               for k in range(args.draws)]
        rows[name] = {"weights": loaded.origin, "fd per draw": fds,
                      "mean": round(float(np.mean(fds)), 4), "range": round(float(np.ptp(fds)), 4)}
        print(name, rows[name], flush=True)
    result = {"num_per_draw": args.num, "num_held_out": len(held), "rows": rows}
    if args.out:
        Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
