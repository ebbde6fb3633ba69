"""Which kinds of face a model draws too rarely or too often: NDB (number of different bins) in dlib's face space.

    python benchmarks/face_space_bins.py --out benchmarks/results/face_space_bins.json \
        --render docs/style_faces_bins.png

k-means cuts the dlib face descriptors (gan_models/judges/face_eval.py) of 2,000 training faces into 20 bins,
kinds of face as a face-recognition network sees them. For the 1,000 held-out real faces (the floor: at the
test's 5% level about one bin in 20 differs by chance) and 1,000 faces of each Faces model at psi 1 (the seeds the
evaluation uses), the share of faces in each bin is compared with the training faces' share
(``metrics.different_bins``: a two-proportion z-test per bin, and the Jensen-Shannon divergence of the two
histograms). Mode collapse, one of GANs' known troubles, shows here as bins a model leaves nearly empty and bins it
crowds; the Fréchet distance only grows.

``--render`` draws, for the style-based model, the bins it fills least and most against the real share, each row up
to 8 of its own faces from that bin (generated faces only: images cut from the data are never committed). Which
kinds of people the bins hold among the real faces is for a person to look at here, and to write down in words.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_models.judges.evaluate import generate_uint8, held_out_features  # noqa: E402
from gan_models.judges.face_eval import FaceDescriptor, reference_sets  # noqa: E402
from gan_models.judges.metrics import cached_features, different_bins  # noqa: E402
from gan_models.hub.weights_source import load_demo  # noqa: E402
from gan_models.registry import DEMOS  # noqa: E402

MODELS = (("DCGAN", "faces"), ("style-based", "style_faces"))


def render(images: torch.Tensor, labels: np.ndarray, rows: list[tuple[int, str]], path: str, per_row: int = 8):
    """One row per (bin, caption): up to ``per_row`` of ``images`` (uint8 N x 3 x 64 x 64) whose label is the bin."""
    from PIL import Image, ImageDraw

    cell, text_w = 64, 96
    sheet = Image.new("RGB", (text_w + per_row * cell, len(rows) * cell), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (b, caption) in enumerate(rows):
        draw.multiline_text((6, r * cell + 8), caption, fill="black")
        for c, i in enumerate(np.flatnonzero(labels == b)[:per_row]):
            sheet.paste(Image.fromarray(images[i].permute(1, 2, 0).numpy()), (text_w + c * cell, r * cell))
    sheet.resize((sheet.width * 2, sheet.height * 2), Image.Resampling.NEAREST).save(path)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="../shared/data/celeba-faces-64")
    parser.add_argument("--num", type=int, default=1000, help="faces per model")
    parser.add_argument("--num_fit", type=int, default=2000, help="training faces the bins are cut from")
    parser.add_argument("--bins", type=int, default=20)
    parser.add_argument("--weights", action="append", default=[], metavar="DEMO=FOLDER",
                        help="score this folder for that demo instead of its embedded weights")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/face_space_bins.json")
    parser.add_argument("--render", default=None, help="draw the style-based model's emptiest and fullest bins here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folders = dict(w.split("=", 1) for w in args.weights)
    describe = FaceDescriptor()
    held, fit = reference_sets(args.dataset, args.num_fit, seed=2)  # the training faces the bins are cut from
    name = Path(args.dataset).name
    ref = cached_features(f"{name}-train{args.num_fit}-seed2-{describe.name}", lambda: describe(fit))
    feats = {"held-out real faces": held_out_features(args.dataset, describe, held)}
    images = {}
    for label, demo in MODELS:
        pipe = load_demo(DEMOS[demo], folders.get(demo), None, use_hub=False).pipeline
        images[label] = generate_uint8(pipe, args.num)
        feats[f"{label} (psi 1)"] = describe(images[label])
    result = different_bins(ref, feats, num_bins=args.bins, assign=True)
    bin_of_each = {set_name: np.asarray(row.pop("bin_of_each")) for set_name, row in result["sets"].items()}
    for set_name, row in result["sets"].items():
        print(f"{set_name}: {row['different_bins']} of {args.bins} bins differ, JSD {row['jsd_bits']} bits")
    style = result["sets"]["style-based (psi 1)"]
    order = np.argsort(style["z"])
    result["style-based bins, emptiest first"] = [
        {"bin": int(b), "training share": round(result["reference_shares"][b], 4),
         "held-out share": round(result["sets"]["held-out real faces"]["shares"][b], 4),
         "DCGAN share": round(result["sets"]["DCGAN (psi 1)"]["shares"][b], 4),
         "style-based share": round(style["shares"][b], 4), "style-based z": style["z"][b]} for b in order]
    result.update({"dataset": args.dataset, "num_fit": args.num_fit, "weights": folders or "embedded"})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    if args.render:
        picked = [*order[:3], *order[::-1][:3]]
        rows = [(int(b), f"bin {b}: real {result['reference_shares'][b]:.1%}\nthis model {style['shares'][b]:.1%}"
                         f"\nz {style['z'][b]:+.1f}") for b in picked]
        render(images["style-based"], bin_of_each["style-based (psi 1)"], rows, args.render)
    return result


if __name__ == "__main__":
    main()
