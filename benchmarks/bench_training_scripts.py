"""Training throughput (images/s) of each training script, run as a user runs it, on data made by code.

    python benchmarks/bench_training_scripts.py                                   # all four, fp32 and bf16
    python benchmarks/bench_training_scripts.py --scripts pix2pix --batch_sizes 16 32 --tag h100   # on a GPU
    python benchmarks/bench_training_scripts.py --scripts dcgan --steps 4 --precisions no --threads 1  # smoke run
    python benchmarks/bench_training_scripts.py --scripts cyclegan --steps 40 --precisions no --threads 1 \
        --batch_sizes 1 4 --tag cyclegan_cpu                     # CycleGAN at its CPU defaults, one thread

Each row is one short run of the real script in a process of its own, with the architecture of
the embedded weights and the batch size they were trained with (or ``--batch_sizes``), on a
small dataset drawn here (random blobs, digit-like strokes, captioned blobs, maps and crude
"aerial" colourings of them): the model and the loop are timed, not the data. images/s is read
from the script's own metrics.jsonl over the second half of the steps (after warm-up). Use it
to choose --max_steps for a time budget: steps = minutes x 60 x images/s / batch.
Writes results/training_scripts[_<tag>].json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from timing import report

TRAINING = Path(__file__).resolve().parents[1] / "training"
COLOURS = ["red", "yellow", "blue", "green", "black", "white", "brown", "grey"]

# script -> (batch size of the embedded weights' run, extra arguments that make the run a plain timing run)
SCRIPTS = {
    "dcgan": ("train_dcgan.py", 64, []),
    "cgan": ("train_cgan.py", 64, ["--holdout", "0"]),
    "text2img": ("train_text2img.py", 16, ["--holdout_classes", "0", "--holdout", "16", "--captions_per_image", "2"]),
    "pix2pix": ("train_pix2pix.py", 16, ["--direction", "b2a", "--holdout", "0"]),
    "cyclegan": ("train_cyclegan.py", 4, ["--holdout", "0"]),  # images/s: aerial crops (as many maps with them)
    "stylegan": ("train_stylegan.py", 32, ["--holdout", "0"]),
}


def blob(rng, size: int, mode: str = "RGB", colour=None) -> Image.Image:
    im = Image.new(mode, (size, size), tuple(int(x) for x in rng.integers(0, 256, 3)) if mode == "RGB" else 0)
    x0, y0 = (int(v) for v in rng.integers(0, size // 2, 2))
    fill = colour or (tuple(int(x) for x in rng.integers(0, 256, 3)) if mode == "RGB" else 255)
    ImageDraw.Draw(im).ellipse([x0, y0, x0 + size // 2, y0 + size // 2], fill=fill)
    return im


def make_dataset(script: str, folder: Path, rows: int) -> Path:
    import datasets

    rng = np.random.default_rng(0)
    if script in ("dcgan", "stylegan"):
        data = {"image": [blob(rng, 64) for _ in range(rows)]}
        features = datasets.Features({"image": datasets.Image()})
    elif script == "cgan":
        data = {"image": [blob(rng, 28, "L") for _ in range(rows)], "label": [i % 10 for i in range(rows)]}
        features = datasets.Features({"image": datasets.Image(),
                                      "label": datasets.ClassLabel(names=[str(i) for i in range(10)])})
    elif script == "text2img":
        names = [COLOURS[i % len(COLOURS)] for i in range(rows)]
        data = {"image": [blob(rng, int(rng.integers(60, 90)), colour=n) for n in names],
                "text": [[f"a small {n} bird with a short beak", f"this bird is {n} all over"] for n in names],
                "label": [i % len(COLOURS) for i in range(rows)]}
        features = datasets.Features({"image": datasets.Image(), "text": datasets.List(datasets.Value("string")),
                                      "label": datasets.ClassLabel(names=COLOURS)})
    else:  # pix2pix, cyclegan: the same pairs (CycleGAN draws their two sides apart)
        from gan_models.maps.palette import synthetic_pair

        pairs = [synthetic_pair(i, 286) for i in range(rows)]
        data = {"aerial": [a for a, _ in pairs], "map": [m for _, m in pairs]}
        features = datasets.Features({"aerial": datasets.Image(), "map": datasets.Image()})
    folder.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(data, features=features).to_parquet(str(folder / "train.parquet"))
    return folder


def run_once(script: str, data: Path, out: Path, args, precision: str, batch: int) -> dict:
    """One short run of the script in a fresh process (Accelerate's state is per process)."""
    file, _, extra = SCRIPTS[script]
    half = max(1, args.steps // 2)
    cmd = [sys.executable, str(Path(args.training_dir) / file), "--dataset", str(data), "--output_dir", str(out),
           "--batch_size", str(batch), "--max_steps", str(args.steps), "--log_steps", str(half),
           "--sample_steps", str(10 ** 9), "--checkpointing_steps", str(10 ** 9), "--mixed_precision", precision,
           "--report_to", "none", *extra]
    if script == "text2img":
        cmd += ["--embedding_cache", str(data / "embeddings.safetensors")]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    cmd += args.extra.split()
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{file} failed:\n{result.stderr[-3000:]}")
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if "images_per_s" in line]
    return {"script": file, "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "precision": precision, "batch": batch, "steps": args.steps, "images/s": logged[-1]["images_per_s"],
            "steps/s": round(logged[-1]["images_per_s"] / batch, 2), "extra": args.extra}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scripts", nargs="+", default=list(SCRIPTS), choices=list(SCRIPTS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--extra", default="", help="more arguments for the script, e.g. '--discriminator dfgan'")
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=None, help="default: each script's recipe")
    parser.add_argument("--precisions", nargs="+", default=["no", "bf16"], choices=["no", "fp16", "bf16"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--tag", default="", help="suffix of the results file (e.g. the GPU's name)")
    parser.add_argument("--training_dir", default=str(TRAINING),
                        help="the scripts to time (an older checkout's training/, for a before/after)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each row, one after another")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for script in args.scripts:
            data = make_dataset(script, Path(tmp) / script, args.rows)
            for precision in args.precisions:
                for batch in args.batch_sizes or [SCRIPTS[script][1]]:
                    for repeat in range(args.repeats):
                        out = Path(tmp) / f"run-{script}-{precision}-{batch}-{repeat}"
                        rows.append(run_once(script, data, out, args, precision, batch))
                        print(rows[-1], flush=True)
    report("training_scripts" + (f"_{args.tag}" if args.tag else ""), rows)


if __name__ == "__main__":
    main()
