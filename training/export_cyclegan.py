"""Copy a CycleGAN run's pipeline folder as the gallery embeds it: both generators and both discriminators in fp16.

    python training/export_cyclegan.py runs/cyclegan/pipeline gan_models/weights/cyclegan_maps
    python -m gan_models.judges.evaluate maps --out results/maps-both   # then pix2pix and CycleGAN in one table

The folder train_cyclegan.py writes (``<output_dir>/pipeline``, or ``best_generator``) holds fp32
networks, a sample grid and a model card. The copy holds the generators and D in fp16 (half the
size; D so that ``--resume_from_weights`` goes on from it), ``training_state.json``, the model card,
``metrics.json`` and ``training_args.json``, and the module file; never the sample grid, whose
columns are pictures from the dataset, which the project does not ship.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from gan_models.core.pipelines import DISCRIMINATOR_DIR, read_training_state  # noqa: E402
from gan_models.maps.cycle_pipeline import CycleGANPipeline  # noqa: E402
from gan_models.maps.cyclegan import CycleGANDiscriminator  # noqa: E402

CARRIED = ("README.md", "metrics.json", "training_args.json")


def export(folder: str | Path, out: str | Path) -> Path:
    folder, out = Path(folder), Path(out)
    if out.resolve() == folder.resolve():
        raise SystemExit("error: write the copy somewhere else (OUT must differ from FOLDER)")
    state = read_training_state(folder)
    if state is None or not (folder / DISCRIMINATOR_DIR).is_dir():
        raise SystemExit(f"error: {folder} carries no {DISCRIMINATOR_DIR}/ and training_state.json: give the "
                         "pipeline folder train_cyclegan.py wrote (<output_dir>/pipeline or best_generator)")
    pipe = CycleGANPipeline.from_pretrained(folder)
    d = CycleGANDiscriminator.load_strict(folder / DISCRIMINATOR_DIR)
    common.save_pipeline(pipe, out, discriminator=d, step=state["step"], ema_updates=state["ema_updates"], fp16=True)
    for name in CARRIED:
        if (folder / name).is_file():
            shutil.copy2(folder / name, out / name)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="the run's pipeline folder (<output_dir>/pipeline)")
    parser.add_argument("out", help="the copy, e.g. gan_models/weights/cyclegan_maps")
    args = parser.parse_args(argv)
    print(f"wrote {export(args.folder, args.out)} (fp16 generators and discriminators)")


if __name__ == "__main__":
    main()
