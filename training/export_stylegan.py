"""Copy a style-based faces run's pipeline folder as the gallery embeds it: G (the EMA generator) and D in fp16.

    python training/export_stylegan.py runs/style-faces/best_generator gan_models/weights/style_faces
    python training/name_edits.py gan_models/weights/style_faces --render runs/edits.png   # then name the edits

The folder train_stylegan.py writes (``<output_dir>/pipeline``, or ``best_generator``: the EMA
generator that scored the best FID, with the D of that step) holds fp32 networks and a sample grid.
The copy holds G and D in fp16 (D so that ``--resume_from_weights`` goes on from it),
``training_state.json``, the model card, ``metrics.json``, ``training_args.json``, the module file
and the named edits, if the folder has any; never the sample grid.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from gan_models.faces.style_pipeline import StyleFacesPipeline  # noqa: E402
from gan_models.faces.stylegan import ProjectedFacesDiscriminator  # noqa: E402


def export(folder: str | Path, out: str | Path) -> Path:
    return common.export_gan_folder(folder, out, StyleFacesPipeline, ProjectedFacesDiscriminator, "train_stylegan.py")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="the run's pipeline folder (<output_dir>/best_generator or pipeline)")
    parser.add_argument("out", help="the copy, e.g. gan_models/weights/style_faces")
    args = parser.parse_args(argv)
    print(f"wrote {export(args.folder, args.out)} (fp16 G and D)")


if __name__ == "__main__":
    main()
