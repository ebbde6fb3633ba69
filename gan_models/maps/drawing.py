"""Maps drawn by code and by hand: the brushes (the training maps' colours), a blank canvas, a street map drawn
from a seed, and the largest picture the maps pipeline takes. numpy and PIL only, no torch: the Maps tab builds its
page from these before the app listens (palette.py, which scores maps with torch, imports them from here).

    python -m gan_models.maps.palette draw --seed 3 --out map.png   # a map drawn by code, no data involved
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

MAX_INPUT_PIXELS = 64_000_000  # the largest picture the maps pipeline takes (the tab refuses larger from the header)
# One colour per thing a user paints: the first colour of each class of palette.MAP_PALETTE, plus two road kinds.
BRUSHES = {
    "background": "#e8e5de", "street": "#fdfdfa", "avenue": "#f6dda0", "highway": "#f69f28",
    "water": "#b0cffe", "park": "#cadead", "building": "#f2f0ea",
}


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


def blank_canvas(size: int = 256) -> Image.Image:
    """A map with nothing on it yet (the background colour): the drawing canvas."""
    return Image.new("RGB", (size, size), BRUSHES["background"])
