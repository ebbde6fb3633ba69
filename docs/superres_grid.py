"""Draw docs/superres_grid.png: the gallery's own pictures made 4x larger, never a picture of the data.

    python docs/superres_grid.py [--weights FOLDER] [--out docs/superres_grid.png]

Rows: a 64x64 face from the Faces tab's DCGAN (seed 3, truncation 0.8); a 64x64 bird from the
Birds tab (the first example prompt, seed 0); a 256x256 aerial photo that pix2pix made from a
map drawn by code (seed 0), shrunk to 64x64 the way the SR models were trained (bicubic with
antialias) so that the last column can show the picture it came from. Columns: the 64x64
input (pixels enlarged 4x), bicubic, SRResNet, SRGAN, and under each a 2x zoom of the centre.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_models.birds.prompts import EXAMPLE_PROMPTS  # noqa: E402
from gan_models.maps.palette import draw_map  # noqa: E402
from gan_models.registry import DEMOS  # noqa: E402


def load(name, weights=None):
    return DEMOS[name].pipeline.from_pretrained(weights or DEMOS[name].embedded)


def shrink(picture: Image.Image, size: int = 64) -> Image.Image:
    """A picture shrunk as the training LR inputs are: bicubic with antialias, 8-bit."""
    x = torch.from_numpy(__import__("numpy").asarray(picture).copy()).permute(2, 0, 1)[None].float()
    lr = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    return Image.fromarray(lr.clamp(0, 255).round().byte()[0].permute(1, 2, 0).numpy())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="super-resolution pipeline folder (default: embedded)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "superres_grid.png"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sr = load("superres", args.weights)
    face = load("faces")(1, seed=3, truncation=0.8).images[0]
    bird = load("birds")(EXAMPLE_PROMPTS[0], 1, seed=0).images[0]
    aerial = load("maps")(draw_map(0, 256), "b2a", mode="fit").images[0]
    rows = [("DCGAN face", face, None), ("birds GAN", bird, None), ("pix2pix aerial", shrink(aerial), aerial)]
    heads = ["input 64x64", "bicubic", "SRResNet", "SRGAN", "pix2pix's 256x256"]
    cell, zoom, pad, top = 256, 128, 6, 22
    width = len(heads) * (cell + pad) + pad
    height = top + len(rows) * (cell + zoom + pad) + pad
    grid = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(grid)
    for j, head in enumerate(heads):
        draw.text((pad + j * (cell + pad) + 4, 5), head, fill="black")
    for i, (name, small, reference) in enumerate(rows):
        pictures = [small.resize((cell, cell), Image.Resampling.NEAREST)]
        pictures += [sr(small, method).images[0] for method in ("bicubic", "srresnet", "srgan")]
        if reference is not None:
            pictures.append(reference)
        y = top + i * (cell + zoom + pad)
        for j, picture in enumerate(pictures):
            x = pad + j * (cell + pad)
            grid.paste(picture, (x, y))
            c = cell // 2  # the centre 64x64 of the output, enlarged 2x (nearest) under it
            grid.paste(picture.crop((c - 32, c - 32, c + 32, c + 32)).resize((zoom, zoom), Image.Resampling.NEAREST),
                       (x + (cell - zoom) // 2, y + cell))
        draw.text((pad + 4, y + cell + 4), name, fill="black")
    grid.save(args.out, optimize=True)
    print(f"wrote {args.out} ({grid.width}x{grid.height})")


if __name__ == "__main__":
    main()
