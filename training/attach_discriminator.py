"""Give a weights folder that has no discriminator one: D trained against the folder's own, frozen generator.

A GAN can only go on training from its generator *and* discriminator: fine-tuning a good G
against a fresh D starts with a D that knows nothing, whose first gradients undo G's work
(StyleGAN2-ADA resumes from G + D for this reason). Where the run that made a folder did not
keep its D, train one afresh against that folder's G, frozen, and attach it:

    # 1. D alone, G frozen the whole run (--d_warmup_steps past --max_steps), G from the folder
    python training/train_dcgan.py --dataset ../shared/data/celeba-faces-64 --holdout 1000 \\
        --output_dir runs/faces-d --init_generator gan_models/weights/faces \\
        --d_warmup_steps 1000000 --max_steps 1500 --threads 1
    # 2. that D (fp16) and the generator's step count into the folder; its generator is not touched
    python training/attach_discriminator.py gan_models/weights/faces runs/faces-d/pipeline --step 7500

With two run folders (pix2pix: one per direction), their discriminators are joined into one,
as merge_pix2pix.py joins the generators. The folder then continues with
``--resume_from_weights FOLDER`` (and the arguments that build the same D).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: find gan_models

from gan_models.core.modeling import CONFIG_NAME, WEIGHTS_NAME  # noqa: E402
from gan_models.core.pipelines import DISCRIMINATOR_DIR, TRAINING_STATE  # noqa: E402


def attach(folder: str | Path, runs: list[str | Path], step: int, ema_updates: int | None = None,
           fp16: bool = True) -> Path:
    """Write ``discriminator/`` (the runs' D, joined; fp16 by default) and ``training_state.json`` into ``folder``."""
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise SystemExit(f"error: {folder} is not a pipeline folder (no model_index.json)")
    if not 0 <= step <= 10**9 or (ema_updates is not None and not 0 <= ema_updates <= 10**9):
        raise SystemExit("error: --step and --ema_updates must be between 0 and 1e9")
    config, tensors = None, {}
    for run in runs:
        part = Path(run) / DISCRIMINATOR_DIR
        try:
            run_config = json.loads((part / CONFIG_NAME).read_text())
            run_tensors = load_file(str(part / WEIGHTS_NAME))
        except (OSError, json.JSONDecodeError) as err:
            raise SystemExit(f"error: {run}: no readable {DISCRIMINATOR_DIR}/ ({err})") from None
        if config is None:
            config = run_config
        elif run_config.get("_class_name") != config.get("_class_name"):
            raise SystemExit(f"error: {run}'s discriminator is a {run_config.get('_class_name')}, not a "
                             f"{config.get('_class_name')}")
        else:  # one direction each (pix2pix): their settings and tensors side by side
            for key, value in run_config.items():
                if not key.startswith("_") and value is not None:
                    if config.get(key) is not None and config[key] != value:
                        raise SystemExit(f"error: {run}: setting {key!r} is in another run's discriminator too")
                    config[key] = value
        clash = set(tensors) & set(run_tensors)
        if clash:
            raise SystemExit(f"error: {run}: tensors {sorted(clash)[:3]} are in another run's discriminator too")
        tensors.update(run_tensors)
    if fp16:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}

    tmp = folder / (DISCRIMINATOR_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / WEIGHTS_NAME))
    shutil.rmtree(folder / DISCRIMINATOR_DIR, ignore_errors=True)
    os.replace(tmp, folder / DISCRIMINATOR_DIR)
    state = {"step": int(step), "ema_updates": int(step if ema_updates is None else ema_updates)}
    (folder / TRAINING_STATE).write_text(json.dumps(state, indent=1) + "\n")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="the weights folder to give a discriminator (e.g. gan_models/weights/faces)")
    parser.add_argument("runs", nargs="+", help="pipeline folders of the D-only runs (one per pix2pix direction)")
    parser.add_argument("--step", type=int, required=True,
                        help="the step count of the run that made the folder's generator (training goes on from it)")
    parser.add_argument("--ema_updates", type=int, default=None, help="the generator EMA's update count (default: --step)")
    parser.add_argument("--fp32", action="store_true", help="keep D in fp32 (default: fp16, as the gallery embeds)")
    args = parser.parse_args(argv)
    print(attach(args.folder, args.runs, args.step, args.ema_updates, fp16=not args.fp32))


if __name__ == "__main__":
    main()
