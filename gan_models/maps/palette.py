"""What is particular to the maps demo: the map palette, a palette-based score, maps drawn by code.

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
import math

import numpy as np
import torch
from PIL import Image, ImageDraw

MAX_INPUT_PIXELS = 64_000_000  # the largest picture the maps pipeline takes (the tab refuses larger from the header)
MAP_CLASSES = ("background", "roads", "water", "parks", "buildings")
MAP_PALETTE = {  # class -> measured colours (k-means centres of the training maps, RGB)
    "background": [(232, 229, 222), (223, 220, 214), (233, 222, 194), (197, 207, 189)],  # land, edges, campus, paths
    "roads": [(253, 253, 250), (246, 221, 160), (241, 210, 115), (246, 159, 40), (229, 172, 73)],  # white, yellow, orange
    "water": [(176, 207, 254)],
    "parks": [(202, 222, 173)],
    "buildings": [(242, 240, 234)],
}
BRUSHES = {  # one colour per thing a user paints (the first colour of each class, plus two road kinds)
    "background": "#e8e5de", "street": "#fdfdfa", "avenue": "#f6dda0", "highway": "#f69f28",
    "water": "#b0cffe", "park": "#cadead", "building": "#f2f0ea",
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


# ----------------------------------------------------------------------------- maps drawn by code
def draw_map(seed: int = 0, size: int = 256) -> Image.Image:
    """A street map in the training maps' palette, drawn from a seed (no data involved).

    A rotated street grid with buildings in the blocks, a park or two, perhaps an avenue,
    a highway and some water: something for the map -> aerial direction to work on.
    """
    rng = np.random.default_rng(seed)
    s = 2 * size  # drawn at twice the size, then downsampled: soft edges like the real tiles
    img = Image.new("RGB", (s, s), BRUSHES["background"])
    draw = ImageDraw.Draw(img)
    angle = rng.uniform(0, math.pi / 2)
    ux, uy = np.array([math.cos(angle), math.sin(angle)]), np.array([-math.sin(angle), math.cos(angle)])
    centre = np.array([s / 2, s / 2])

    def quad(u0, u1, v0, v1):  # a rectangle in street coordinates -> polygon in pixels
        return [tuple(centre + a * ux + b * uy) for a, b in ((u0, v0), (u1, v0), (u1, v1), (u0, v1))]

    du, dv = rng.uniform(0.10, 0.17) * s, rng.uniform(0.18, 0.32) * s  # block size
    street = rng.uniform(0.012, 0.02) * s
    reach = s * 0.75
    us, vs = np.arange(-reach, reach, du), np.arange(-reach, reach, dv)
    parks = {(int(rng.integers(len(us))), int(rng.integers(len(vs)))) for _ in range(rng.integers(1, 4))}
    for i, u in enumerate(us):
        for j, v in enumerate(vs):
            if (i, j) in parks:
                draw.polygon(quad(u, u + du, v, v + dv), fill=BRUSHES["park"])
                continue
            n = int(rng.integers(2, 6))  # a row of buildings along each long side of the block
            for side in (0, 1):
                for b in range(n):
                    if rng.random() < 0.25:
                        continue
                    b0, b1 = v + street + b * (dv - 2 * street) / n, v + street + (b + 0.8) * (dv - 2 * street) / n
                    depth = rng.uniform(0.25, 0.42) * du
                    a0 = u + street * 1.5 if side == 0 else u + du - street * 1.5 - depth
                    draw.polygon(quad(a0, a0 + depth, b0, b1), fill=BRUSHES["building"])
    for u in us:
        draw.polygon(quad(u - street / 2, u + street / 2, -reach, reach), fill=BRUSHES["street"])
    for v in vs:
        draw.polygon(quad(-reach, reach, v - street / 2, v + street / 2), fill=BRUSHES["street"])
    if rng.random() < 0.6:  # an avenue along one grid line
        v = vs[int(rng.integers(len(vs)))]
        draw.polygon(quad(-reach, reach, v - street, v + street), fill=BRUSHES["avenue"])
    if rng.random() < 0.35:  # a curving highway
        t = np.linspace(-1, 1, 60)
        bend, shift = rng.uniform(-0.3, 0.3) * s, rng.uniform(-0.3, 0.3) * s
        pts = [tuple(centre + x * reach * uy + (shift + bend * x * x) * ux) for x in t]
        draw.line(pts, fill=BRUSHES["highway"], width=int(street * 1.6), joint="curve")
    if rng.random() < 0.4:  # water along one edge, with a wavy shore
        edge = int(rng.integers(4))
        depth, waves = rng.uniform(0.15, 0.45) * s, rng.uniform(0.02, 0.06) * s
        t = np.linspace(0, s, 40)
        shore = depth + waves * np.sin(t / s * rng.uniform(3, 9) + rng.uniform(0, 6))
        line = [(x, d) for x, d in zip(t, shore)]
        poly = [(0, 0), (s, 0)] + line[::-1]
        rotate = {0: lambda p: p, 1: lambda p: (s - p[1], p[0]), 2: lambda p: (p[0], s - p[1]), 3: lambda p: (p[1], p[0])}
        draw.polygon([rotate[edge](p) for p in poly], fill=BRUSHES["water"])
    return img.resize((size, size), Image.Resampling.LANCZOS)


def synthetic_pair(seed: int, size: int = 286) -> tuple[Image.Image, Image.Image]:
    """(fake aerial, map) made by code for tests and benchmarks: the map recoloured, plus noise."""
    drawn = draw_map(seed, size)
    classes = classify_map_pixels(torch.from_numpy(np.asarray(drawn).copy()).permute(2, 0, 1)[None])[0].numpy()
    ground = np.array([[96, 88, 72], [70, 70, 72], [24, 40, 40], [40, 72, 36], [150, 150, 145]], dtype=np.float64)
    noise = np.random.default_rng(seed).normal(0, 12, (size, size, 3))
    return Image.fromarray(np.clip(ground[classes] + noise, 0, 255).astype(np.uint8)), drawn


def blank_canvas(size: int = 256) -> Image.Image:
    """A map with nothing on it yet (the background colour): the drawing canvas."""
    return Image.new("RGB", (size, size), BRUSHES["background"])


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
