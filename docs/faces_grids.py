"""Draw the Faces tab's grids for the docs: the embedded models' own faces, never a picture of the data.

    python docs/faces_grids.py                      # docs/style_faces_grid.png and docs/style_faces_dcgan_grid.png
    python docs/faces_grids.py --truncation 0.7 --out docs/style_faces_grid_psi07.png --models style

64 faces (seeds 0-63, 8x8, each 64x64 face drawn at 2x) per model: the style-based generator and the
DCGAN from the same seeds, at the truncation given (1.0 by default: the faces the scores are about).
The two models' seeds do not mean the same face: each maps its own noise its own way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))

from common import image_grid  # noqa: E402
from gan_models.registry import DEMOS  # noqa: E402

MODELS = {"style": ("style_faces", "style_faces_grid.png"), "dcgan": ("faces", "style_faces_dcgan_grid.png")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="style,dcgan", help="which grids: style, dcgan (comma-separated)")
    parser.add_argument("--truncation", type=float, default=1.0)
    parser.add_argument("--num", type=int, default=64)
    parser.add_argument("--out", default=None, help="the file (one model only); default docs/<model's grid>.png")
    args = parser.parse_args(argv)
    chosen = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in MODELS]
    if unknown or not chosen or (args.out and len(chosen) != 1):
        raise SystemExit(f"error: --models takes one or more of {', '.join(MODELS)} (one with --out), got {args.models}")
    for model in chosen:
        demo, name = MODELS[model]
        pipe = DEMOS[demo].pipeline.from_pretrained(DEMOS[demo].embedded)
        faces = pipe(seeds=list(range(args.num)), truncation=args.truncation, output_type="pt").images  # [0, 1]
        grid = image_grid(faces * 2 - 1, nrow=8)
        path = Path(args.out) if args.out else ROOT / "docs" / name
        grid.resize((grid.width * 2, grid.height * 2), Image.Resampling.NEAREST).save(path)
        print(f"wrote {path}: {model}, seeds 0-{args.num - 1}, truncation {args.truncation}")


if __name__ == "__main__":
    main()
