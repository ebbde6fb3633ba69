"""What is particular to the maps demo: the map palette, a palette-based score (maps drawn by code and the
brushes are in drawing.py, which needs no torch).

The palette was measured on the training maps (pix2pix "maps", Google Maps tiles of the
New York area): k-means with k = 12 over 900,000 pixels of 300 maps, each centre then
named by looking at where it falls. A pixel of a map (real or generated) belongs to the
class of its nearest palette colour, so a generated map can be scored against the real
one like a segmentation: per-class IoU, their mean (mIoU), and pixel accuracy.

    python -m gan_models.judges.evaluate maps               # both directions (gan_models/judges/maps_eval.py)
    python -m gan_models.maps.palette draw --seed 3 --out map.png   # a map drawn by code, no data involved
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

# The drawing (brushes, canvas, maps drawn by code) needs no torch; its names can be imported from here too.
from .drawing import BRUSHES, MAX_INPUT_PIXELS, blank_canvas, draw_map  # noqa: F401

MAP_CLASSES = ("background", "roads", "water", "parks", "buildings")
MAP_PALETTE = {  # class -> measured colours (k-means centres of the training maps, RGB)
    "background": [(232, 229, 222), (223, 220, 214), (233, 222, 194), (197, 207, 189)],  # land, edges, campus, paths
    "roads": [(253, 253, 250), (246, 221, 160), (241, 210, 115), (246, 159, 40), (229, 172, 73)],  # white, yellow, orange
    "water": [(176, 207, 254)],
    "parks": [(202, 222, 173)],
    "buildings": [(242, 240, 234)],
}


def _prototypes() -> tuple[torch.Tensor, torch.Tensor]:
    colours = [c for name in MAP_CLASSES for c in MAP_PALETTE[name]]
    owners = [k for k, name in enumerate(MAP_CLASSES) for _ in MAP_PALETTE[name]]
    return torch.tensor(colours, dtype=torch.float32), torch.tensor(owners)


def nearest_palette_colours(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W maps -> N x H x W indices of each pixel's nearest palette colour (12 colours)."""
    colours, _ = _prototypes()
    pixels = images.permute(0, 2, 3, 1).reshape(-1, 3).float()
    nearest = torch.cat([torch.cdist(chunk, colours).argmin(1) for chunk in pixels.split(1 << 20)])
    return nearest.view(images.shape[0], *images.shape[2:])


def classify_map_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W maps -> N x H x W class indices into MAP_CLASSES (nearest palette colour)."""
    return _prototypes()[1][nearest_palette_colours(images)]


def flat_colours(image: torch.Tensor) -> torch.Tensor:
    """uint8 3 x H x W map -> its flat-colour version, uint8 3 x H x W: every pixel painted the mean colour of the
    pixels of this map that share its nearest palette colour (the map's own colours, not the palette's, so that a
    generator's slightly-off land colour is not counted as a difference). A map drawn in flat colours is (edges
    aside) its own flat version; what a generator leaves on top of the flat colours is what differs."""
    index = nearest_palette_colours(image[None])[0].flatten()                   # H*W
    pixels = image.reshape(3, -1).double()                                      # 3 x H*W
    k = len(_prototypes()[0])
    sums = torch.zeros(k, 3, dtype=torch.float64).index_add_(0, index, pixels.T)
    means = sums / torch.bincount(index, minlength=k).clamp(min=1)[:, None]      # k x 3
    return means[index].T.reshape(image.shape).round().to(torch.uint8)


def palette_scores(generated: torch.Tensor, real: torch.Tensor) -> dict:
    """Per-class IoU, mIoU and pixel accuracy of generated maps against the real ones (uint8 N x 3 x H x W).

    Intersections and unions are summed over all images first (as in semantic segmentation
    benchmarks); mIoU averages the classes present in the real or generated maps.
    """
    if generated.shape != real.shape:
        raise ValueError(f"generated {tuple(generated.shape)} and real {tuple(real.shape)} maps differ in shape")
    k = len(MAP_CLASSES)
    pred, true = classify_map_pixels(generated).flatten(), classify_map_pixels(real).flatten()
    confusion = torch.bincount(true * k + pred, minlength=k * k).view(k, k).double()  # rows: real, columns: generated
    tp = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - tp
    iou = {name: (round(float(tp[i] / union[i]), 4) if union[i] > 0 else None) for i, name in enumerate(MAP_CLASSES)}
    present = [v for v in iou.values() if v is not None]
    share = (confusion.sum(1) / confusion.sum()).tolist()
    return {"miou": round(sum(present) / len(present), 4), "pixel_accuracy": round(float(tp.sum() / confusion.sum()), 4),
            "iou": iou, "real_class_share": {n: round(s, 4) for n, s in zip(MAP_CLASSES, share)}}


def synthetic_pair(seed: int, size: int = 286) -> tuple[Image.Image, Image.Image]:
    """(fake aerial, map) made by code for tests and benchmarks: the map recoloured, plus noise."""
    drawn = draw_map(seed, size)
    classes = classify_map_pixels(torch.from_numpy(np.asarray(drawn).copy()).permute(2, 0, 1)[None])[0].numpy()
    ground = np.array([[96, 88, 72], [70, 70, 72], [24, 40, 40], [40, 72, 36], [150, 150, 145]], dtype=np.float64)
    noise = np.random.default_rng(seed).normal(0, 12, (size, size, 3))
    return Image.fromarray(np.clip(ground[classes] + noise, 0, 255).astype(np.uint8)), drawn


def pair_columns(columns: list[str], a_column: str | None = None, b_column: str | None = None) -> tuple[str, str]:
    """The (A, B) image columns: as given, else ("aerial", "map") or HugGAN's ("imageA", "imageB")."""
    if a_column is None and b_column is None:
        for a, b in (("aerial", "map"), ("imageA", "imageB")):
            if a in columns and b in columns:
                return a, b
        raise ValueError(f"cannot tell the paired image columns from {columns}: name them with "
                         "--a_column and --b_column")
    for name in (a_column, b_column):
        if name not in columns:
            raise ValueError(f"the dataset has no column {name!r}; its columns are {columns}")
    return a_column, b_column


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("draw", help="draw a map from a seed (in the data's palette) and save it")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--size", type=int, default=256)
    d.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    draw_map(args.seed, args.size).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
