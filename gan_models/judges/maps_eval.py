"""Both directions of pix2pix, and of CycleGAN, on the held-out pairs: ``python -m gan_models.judges.evaluate maps``.

aerial -> map is scored by the map palette (gan_models/maps/palette.py) as a segmentation:
per-class IoU, their mean (mIoU), pixel accuracy, and L1; map -> aerial by L1 and FID/KID; the
way there and back (aerial -> map -> aerial, map -> aerial -> map) by L1. ``evaluate_maps_models``
scores several models on the same pairs and ``models_markdown`` puts them in one table.
"""

from __future__ import annotations

import numpy as np

from ..data import holdout_split, images_to_uint8, load_hf_dataset, to_float, to_uint8
from ..maps.palette import pair_columns, palette_scores
from ..maps.pipeline import quantize
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
        back = "b2a" if direction == "a2b" else "a2b"
        if back in pipe.directions:  # there and back: the 8-bit translation translated back, against the input
            returned = quantize(pipe.translate(to_float(fake), back))
            scores["cycle_l1"] = round(float((returned - to_float(real[src])).abs().mean()), 4)
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
        if "cycle_l1" in scores:
            lines.append(f"| there and back: L1 to the input | {scores['cycle_l1']} |")
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


def evaluate_maps_models(pipes: dict, dataset: str, holdout: int = 100, holdout_seed: int = 0, fid: bool = True,
                         features=None) -> dict:
    """``evaluate_maps`` for each model of ``pipes`` ({"pix2pix": pipe, "CycleGAN": pipe}) on the same held-out
    pairs: {"demo": "maps", "dataset", "num_pairs", "holdout_seed", "models": {name: its result}}."""
    if fid and features is None:
        features = InceptionFeatures()  # loaded once for every model
    results = {name: evaluate_maps(pipe, dataset, holdout, holdout_seed, fid=fid, features=features)
               for name, pipe in pipes.items()}
    first = next(iter(results.values()))
    return {"demo": "maps", "dataset": dataset, "num_pairs": first["num_pairs"], "holdout_seed": holdout_seed,
            "models": results}


MODEL_ROWS = [  # (direction, key, label) of the one-table comparison; a model without the figure shows "-"
    ("a2b", "miou", "aerial → map: palette mIoU"),
    ("a2b", "pixel_accuracy", "aerial → map: palette pixel accuracy"),
    ("a2b", "l1", "aerial → map: L1 to the true map"),
    ("b2a", "l1", "map → aerial: L1 to the true photo"),
    ("b2a", "fid_kid", "map → aerial: FID / KID against the held-out photos"),
    ("a2b", "cycle_l1", "aerial → map → aerial: L1 to the input"),
    ("b2a", "cycle_l1", "map → aerial → map: L1 to the input"),
]


def models_markdown(result: dict) -> str:
    """``evaluate_maps_models``' result as one table: a row per figure, a column per model."""
    names = list(result["models"])
    some = next(iter(result["models"].values()))
    lines = [f"{result['num_pairs']} held-out pairs of `{result['dataset']}` (seed {result['holdout_seed']}), "
             f"{some['tile']}x{some['tile']}, L1 in [-1, 1] units.\n", "| | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for direction, key, label in MODEL_ROWS:
        cells = []
        for name in names:
            value = result["models"][name]["directions"].get(direction, {}).get(key)
            if isinstance(value, dict):  # FID / KID
                value = f"{value['fid']} / {value['kid']}"
            cells.append("-" if value is None else str(value))
        if any(c != "-" for c in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for name in names:  # the floor of FID at this count, once
        floor = result["models"][name]["directions"].get("b2a", {}).get("fid_kid_two_real_sets")
        if floor:
            lines.append(f"\nFID / KID of {floor['num_fake']} training photos against the {floor['num_real']} "
                         f"held-out ones (the floor at this count): {floor['fid']} / {floor['kid']}.")
            break
    return "\n".join(lines) + "\n"
