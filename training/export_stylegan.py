"""Copy a style-based faces run's pipeline folder as the gallery embeds it: G (the EMA generator) and D in fp16.

    python training/export_stylegan.py runs/style-faces/best_generator gan_models/weights/style_faces
    python training/name_edits.py gan_models/weights/style_faces --render runs/edits.png   # then name the edits
    python -m tabs.first_faces --write-cache      # and draw the Faces tab's first gallery from the new weights

The folder train_stylegan.py writes (``<output_dir>/pipeline``, or ``best_generator``: the EMA
generator that scored the best FID, with the D of that step) holds fp32 networks and a sample grid.
The copy holds G and D in fp16 (D so that ``--resume_from_weights`` goes on from it),
``training_state.json``, the model card, ``metrics.json``, ``training_args.json``, the module file
and the named edits, if the folder has any; never the sample grid. A ``best_generator`` folder has
no model card or arguments of its own: they are made from the run's ``training_args.json`` (the
folder's parent) and the folder's ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from gan_models.faces.style_pipeline import StyleFacesPipeline  # noqa: E402
from gan_models.faces.stylegan import ProjectedFacesDiscriminator  # noqa: E402
from gan_models.registry import DEMOS  # noqa: E402
from train_stylegan import write_card  # noqa: E402


def export(folder: str | Path, out: str | Path) -> Path:
    folder = Path(folder)
    out = common.export_gan_folder(folder, out, StyleFacesPipeline, ProjectedFacesDiscriminator, "train_stylegan.py")
    run_args = next((f for f in (folder / "training_args.json", folder.parent / "training_args.json") if f.is_file()),
                    None)
    if run_args is not None and not (out / "training_args.json").is_file():
        shutil.copy2(run_args, out / "training_args.json")
    if run_args is not None and not (out / "README.md").is_file():
        best = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else None
        state = json.loads((out / "training_state.json").read_text())
        write_card(out, argparse.Namespace(**json.loads(run_args.read_text())), state["ema_updates"], best,
                   location=str(out))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="the run's pipeline folder (<output_dir>/best_generator or pipeline)")
    parser.add_argument("out", help="the copy, e.g. gan_models/weights/style_faces")
    args = parser.parse_args(argv)
    out = export(args.folder, args.out)
    print(f"wrote {out} (fp16 G and D)")
    if out.resolve() == DEMOS["style_faces"].embedded.resolve():  # the app's first gallery was drawn from the old G
        print("the embedded weights changed: draw the Faces tab's first gallery again with "
              "python -m tabs.first_faces --write-cache")


if __name__ == "__main__":
    main()
