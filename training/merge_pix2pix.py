"""Put the two directions of pix2pix, trained separately, into one folder that the app loads.

    python training/merge_pix2pix.py runs/maps-a2b/pipeline runs/maps-b2a/pipeline \\
        --out gan_models/weights/maps --fp16
    python -m gan_models.hub.publish gan_models/weights/maps gan-gallery/pix2pix-maps --demo maps

Each input folder is what train_pix2pix.py saved (or a snapshot): a pipeline folder whose
Pix2PixGenerator holds one direction (an earlier-layout folder works too). The output is one
pipeline folder whose generator holds both U-Nets (fp16 with ``--fp16``: what the gallery
embeds) and a model card with both directions' held-out scores (from each folder's
metrics.json). Where each folder carries its discriminator, the two PatchGANs are merged
the same way (``discriminator/``, with ``training_state.json``): ``--resume_from_weights`` on
the merged folder continues either direction and saves both. The sample grids are not copied:
their input and target columns are pictures from the dataset, which the project never ships.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from gan_models.maps.pipeline import Pix2PixPipeline  # noqa: E402
from gan_models.core.pipelines import DISCRIMINATOR_DIR, read_training_state  # noqa: E402
from gan_models.maps.pix2pix import Pix2PixDiscriminator, Pix2PixGenerator  # noqa: E402


def merge(folders: list[str | Path], out: str | Path, fp16: bool = False, dataset: str = "huggan/maps",
          note: str = "") -> Path:
    parts = [Pix2PixGenerator.load_strict(common.generator_folder(f)) for f in folders]
    configs, states, sources = {}, {}, {}
    for folder, g in zip(folders, parts):
        for direction, net in g.nets.items():
            if direction in configs:
                raise SystemExit(f"error: direction {direction} is in both {sources[direction]} and {folder}")
            config = json.loads((common.generator_folder(folder) / "config.json").read_text())
            configs[direction], states[direction], sources[direction] = config[direction], net.state_dict(), folder
    names = {(g.a_name, g.b_name) for g in parts}
    if len(names) > 1:
        raise SystemExit(f"error: the folders name A and B differently: {sorted(names)} (use the same --a_name/--b_name)")
    (a_name, b_name), = names
    merged = Pix2PixGenerator(**configs, a_name=a_name, b_name=b_name)
    for direction, state in states.items():
        merged.nets[direction].load_state_dict(state)
    discriminator, training_state = merge_discriminators(folders)
    out = common.save_pipeline(Pix2PixPipeline(merged.eval()), out, fp16=fp16, discriminator=discriminator,
                               **training_state)
    metrics, notes = {}, []
    for direction, folder in sources.items():
        what = f"{a_name} -> {b_name}" if direction == "a2b" else f"{b_name} -> {a_name}"
        scores_file = Path(folder) / "metrics.json"
        if scores_file.is_file():
            scores = json.loads(scores_file.read_text())
            metrics[f"{what}: L1"] = scores["l1"]
            if "miou" in scores:
                metrics[f"{what}: palette mIoU"] = scores["miou"]
                metrics[f"{what}: palette pixel accuracy"] = scores["pixel_accuracy"]
            notes.append(f"{what}: step {scores['step']}, {scores['num_pairs']} held-out pairs")
        args_file = Path(folder) / "training_args.json"
        if args_file.is_file():
            shutil.copy2(args_file, out / f"training_args_{direction}.json")
            dataset = json.loads(args_file.read_text()).get("dataset", dataset)
    common.write_model_card(
        out, title=f"pix2pix {a_name} <-> {b_name} (GAN Gallery)", pipeline_tag="image-to-image", dataset=dataset,
        license="other", tags=["pix2pix", "image-to-image"], metrics=metrics,
        metrics_note="; ".join(notes) + (". " if notes else "") + "Full evaluation: `python -m gan_models.judges.evaluate maps`.",
        description=(f"Two pix2pix U-Net generators in one file, {a_name} -> {b_name} (`a2b`) and {b_name} -> "
                     f"{a_name} (`b2a`), each trained by training/train_pix2pix.py against a 70x70 PatchGAN; "
                     "the weights are the EMA generators'. The pix2pix maps data (Google Maps tiles) is for research use."
                     + (f"\n\n{note}" if note else "")),
        usage=("from gan_models.maps.pipeline import Pix2PixPipeline\n"
               f"pipe = Pix2PixPipeline.from_pretrained(\"{out}\")\n"
               "out = pipe(\"aerial.png\", direction=\"a2b\")   # or direction=\"b2a\"\n"
               "out.images[0].save(\"map.png\")"),
    )
    return out


def merge_discriminators(folders) -> tuple[Pix2PixDiscriminator | None, dict]:
    """The folders' PatchGANs in one Pix2PixDiscriminator, and the training state to save with it (the larger step
    count where the directions differ), so that ``--resume_from_weights`` on the merged folder can continue either
    direction; (None, {}) unless every folder carries its discriminator and training state."""
    parts = [Path(f) / DISCRIMINATOR_DIR for f in folders]
    states = [read_training_state(f) for f in folders]
    if not all((p / "config.json").is_file() for p in parts) or None in states:
        missing = [str(f) for f, p, st in zip(folders, parts, states) if not (p / "config.json").is_file() or st is None]
        print(f"note: no discriminator (or training state) in {', '.join(missing)}: the merged folder has none, "
              "and adversarial training cannot continue from it")
        return None, {}
    configs, weights = {}, {}
    for part in parts:
        for direction, net in Pix2PixDiscriminator.load_strict(part).nets.items():
            configs[direction] = json.loads((part / "config.json").read_text())[direction]
            weights[direction] = net.state_dict()
    merged = Pix2PixDiscriminator(**configs)
    for direction, state in weights.items():
        merged.nets[direction].load_state_dict(state)
    return merged, {"step": max(s["step"] for s in states), "ema_updates": max(s["ema_updates"] for s in states)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="pipeline folders of train_pix2pix.py, one per direction")
    parser.add_argument("--out", required=True)
    parser.add_argument("--fp16", action="store_true", help="store the weights in fp16 (half the size)")
    parser.add_argument("--note", default="", help="a paragraph for the model card (how these weights were made)")
    args = parser.parse_args(argv)
    print(merge(args.folders, args.out, args.fp16, note=args.note))


if __name__ == "__main__":
    main()
