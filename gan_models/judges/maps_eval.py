"""Both directions of pix2pix on the held-out pairs: ``python -m gan_models.judges.evaluate maps``.

aerial -> map is scored by the map palette (gan_models/maps/palette.py) as a segmentation:
per-class IoU, their mean (mIoU), pixel accuracy, and L1; map -> aerial by L1 and FID/KID.
"""

from __future__ import annotations

import numpy as np

from ..data import holdout_split, images_to_uint8, load_hf_dataset, to_float, to_uint8
from ..maps.palette import pair_columns, palette_scores
from .metrics import InceptionFeatures, fid_kid


def evaluate_maps(pipe, dataset: str, holdout: int = 100, holdout_seed: int = 0, a_column: str | None = None,
                  b_column: str | None = None, fid: bool = True, features=None) -> dict:
    """Both directions of ``pipe`` on the held-out pairs (the rows the training held out).

    Each held-out pair is resized to one tile (286 -> 256, as pix2pix evaluates), each
    input translated once. a2b (aerial -> map): palette mIoU, per-class IoU, pixel
    accuracy, L1. b2a (map -> aerial): L1 and, with ``fid``, FID/KID against the held-out
    aerial photos, with the same figures for 100 training photos as the floor at this count.
    """

    ds = load_hf_dataset(dataset)
    a_column, b_column = pair_columns(ds.column_names, a_column, b_column)
    train, held = holdout_split(len(ds), holdout, holdout_seed)
    t = pipe.tile_size
    rows = ds.select(held.tolist())
    real = {"a": images_to_uint8(rows[a_column], t), "b": images_to_uint8(rows[b_column], t)}
    result = {"demo": "maps", "dataset": dataset, "num_pairs": len(held), "holdout_seed": holdout_seed,
              "tile": t, "directions": {}}
    for direction in pipe.directions:
        src, dst = ("a", "b") if direction == "a2b" else ("b", "a")
        fake = to_uint8(pipe.translate(to_float(real[src]), direction))
        scores = {"l1": round(float((to_float(fake) - to_float(real[dst])).abs().mean()), 4)}  # in [-1, 1] units
        if direction == "a2b":
            scores.update(palette_scores(fake, real[dst]))
        elif fid:
            features = features or InceptionFeatures()
            floor_rows = ds.select(train[np.random.default_rng(1).permutation(len(train))[:len(held)]].tolist())
            held_feats = features(real[dst])
            scores["fid_kid"] = fid_kid(held_feats, features(fake))
            scores["fid_kid_two_real_sets"] = fid_kid(held_feats, features(images_to_uint8(floor_rows[a_column], t)))
        result["directions"][direction] = {"what": pipe.describe(direction), **scores}
    return result


def maps_markdown(result: dict) -> str:
    """The evaluation as markdown: one table per direction."""
    lines = [f"{result['num_pairs']} held-out pairs of `{result['dataset']}` (seed {result['holdout_seed']}), "
             f"{result['tile']}x{result['tile']}.\n"]
    for direction, scores in result["directions"].items():
        lines += [f"\n**{scores['what']}** (`{direction}`)\n", "| metric | value |", "|---|---|",
                  f"| L1 ([-1, 1] units) | {scores['l1']} |"]
        if "miou" in scores:
            lines += [f"| palette mIoU | {scores['miou']} |", f"| pixel accuracy | {scores['pixel_accuracy']} |"]
            lines += [f"| IoU {k} (share of real pixels {scores['real_class_share'][k]}) | {v} |"
                      for k, v in scores["iou"].items()]
        for key, label in (("fid_kid", "generated vs held-out photos"), ("fid_kid_two_real_sets", "training vs held-out photos")):
            if key in scores:
                r = scores[key]
                lines.append(f"| FID / KID, {label} ({r['num_fake']} vs {r['num_real']}) | {r['fid']} / {r['kid']} "
                             f"± {r['kid_std']} |")
    return "\n".join(lines) + "\n"
