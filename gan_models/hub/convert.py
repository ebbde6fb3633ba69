"""Convert a folder of the gallery's earlier layout (config.json + model.safetensors) to a diffusers pipeline folder.

    python -m gan_models.hub.convert runs/faces/generator runs/faces/pipeline --demo faces
    python -m gan_models.hub.convert OLD NEW --demo birds --fp16
    python -m gan_models.hub.convert gan_models/weights/faces --demo faces --module_file_only   # after a code change

Every folder a training script wrote before the move to diffusers has that layout; it still
loads (with a note), and this command writes it anew as ``model_index.json`` + ``generator/``
+ the module file, the model card (README.md) and other files beside it carried over.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from ..registry import DEMOS

CARRIED = ("README.md", "samples.png", "training_args.json", "metrics.json")


def keep_identical_bytes(old: Path, new: Path) -> None:
    """Where the new file holds exactly the old tensors, keep the old file's bytes (git stores it once)."""
    from safetensors.torch import load_file

    a, b = load_file(str(old)), load_file(str(new))
    if a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a):
        shutil.copyfile(old, new)


def convert(folder: str | Path, out: str | Path, demo: str, fp16: bool = False) -> Path:
    from ..core.pipelines import is_legacy_folder

    folder, out = Path(folder), Path(out)
    if not is_legacy_folder(folder):
        raise SystemExit(f"error: {folder} is not in the earlier layout (config.json + model.safetensors at the top)")
    if out.resolve() == folder.resolve():
        raise SystemExit("error: write the converted folder somewhere else (OUT must differ from FOLDER)")
    pipe = DEMOS[demo].pipeline.from_pretrained(folder)
    if fp16:
        pipe = pipe.to(torch.float16)
    save = {"include_text_encoder": False} if demo == "birds" else {}
    pipe.save_pretrained(out, **save)
    keep_identical_bytes(folder / "model.safetensors", out / "generator" / "diffusion_pytorch_model.safetensors")
    for name in CARRIED:
        if (folder / name).is_file():
            shutil.copy2(folder / name, out / name)
    print(f"wrote {out} (diffusers layout{', fp16' if fp16 else ''})")
    return out


def refresh_module_file(folder: str | Path, demo: str) -> None:
    """Write a pipeline folder's module file anew from the package (after the code changed); weights untouched."""
    from ..core.pipelines import INDEX_NAME
    from ..core.remote_code import write_remote_code

    folder = Path(folder)
    if not (folder / INDEX_NAME).is_file():
        raise SystemExit(f"error: {folder} is no pipeline folder (no {INDEX_NAME})")
    cls = DEMOS[demo].pipeline
    name = write_remote_code(cls, [folder] + [folder / c for c in cls.component_classes])
    print(f"wrote {name} into {folder} and its component folders")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a folder in the earlier layout (or, with --module_file_only, a pipeline folder)")
    parser.add_argument("out", nargs="?", help="the new pipeline folder")
    parser.add_argument("--demo", required=True, choices=sorted(DEMOS))
    parser.add_argument("--fp16", action="store_true", help="store the weights in fp16 (as the embedded ones are)")
    parser.add_argument("--module_file_only", action="store_true",
                        help="only write the folder's module file anew from the package's code")
    args = parser.parse_args(argv)
    if args.module_file_only:
        return refresh_module_file(args.folder, args.demo)
    if not args.out:
        parser.error("give OUT, the new pipeline folder")
    convert(args.folder, args.out, args.demo, args.fp16)


if __name__ == "__main__":
    main()
