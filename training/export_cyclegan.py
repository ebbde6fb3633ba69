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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from gan_models.maps.cycle_pipeline import CycleGANPipeline  # noqa: E402
from gan_models.maps.cyclegan import CycleGANDiscriminator  # noqa: E402


def export(folder: str | Path, out: str | Path) -> Path:
    return common.export_gan_folder(folder, out, CycleGANPipeline, CycleGANDiscriminator, "train_cyclegan.py")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="the run's pipeline folder (<output_dir>/pipeline)")
    parser.add_argument("out", help="the copy, e.g. gan_models/weights/cyclegan_maps")
    args = parser.parse_args(argv)
    print(f"wrote {export(args.folder, args.out)} (fp16 generators and discriminators)")


if __name__ == "__main__":
    main()
