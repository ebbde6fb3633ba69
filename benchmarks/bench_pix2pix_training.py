"""Training throughput of train_pix2pix.py on a paired dataset made by code (no data needed).

    python benchmarks/bench_pix2pix_training.py --steps 200 --batch_sizes 16 32 --precisions no bf16
    python benchmarks/bench_pix2pix_training.py --steps 4 --batch_sizes 2 --threads 1     # a CPU smoke run

Each row is one short run of the real script (in a process of its own) on 286x286 pairs of maps
drawn by gan_models.maps and a crude "aerial" colouring of them: images/s is read from the
script's own metrics.jsonl, over the second half of the steps (after cuDNN's warm-up).
Use it to choose --max_steps for a time budget: steps = minutes x 60 x images/s / batch.
Writes results/pix2pix_training[_<tag>].json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from timing import report

TRAINING = Path(__file__).resolve().parents[1] / "training"


def make_dataset(folder: Path, rows: int, size: int = 286) -> Path:
    import datasets

    from gan_models.maps import synthetic_pair

    pairs = [synthetic_pair(i, size) for i in range(rows)]
    features = datasets.Features({"aerial": datasets.Image(), "map": datasets.Image()})
    ds = datasets.Dataset.from_dict({"aerial": [a for a, _ in pairs], "map": [m for _, m in pairs]}, features=features)
    folder.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(folder / "train.parquet"))
    return folder


def run_once(data: Path, out: Path, args, precision: str, batch: int) -> dict:
    """One short run of the script in a fresh process (Accelerate's state is per process)."""
    half = max(1, args.steps // 2)
    cmd = [sys.executable, str(TRAINING / "train_pix2pix.py"), "--dataset", str(data), "--direction", args.direction,
           "--output_dir", str(out), "--batch_size", str(batch), "--max_steps", str(args.steps),
           "--log_steps", str(half), "--sample_steps", str(10 ** 9), "--checkpointing_steps", str(10 ** 9),
           "--mixed_precision", precision, "--report_to", "none"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"training failed:\n{result.stderr[-3000:]}")
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if "images_per_s" in line]
    return {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", "precision": precision,
            "batch": batch, "steps": args.steps, "images/s": logged[-1]["images_per_s"],
            "steps/s": round(logged[-1]["images_per_s"] / batch, 2)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[16])
    parser.add_argument("--precisions", nargs="+", default=["no"], choices=["no", "fp16", "bf16"])
    parser.add_argument("--direction", default="b2a", choices=["a2b", "b2a"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--tag", default="", help="suffix of the results file (e.g. the GPU's name)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = make_dataset(Path(tmp) / "pairs", args.rows)
        for precision in args.precisions:
            for batch in args.batch_sizes:
                rows.append(run_once(data, Path(tmp) / f"run-{precision}-{batch}", args, precision, batch))
                print(rows[-1], flush=True)
    report("pix2pix_training" + (f"_{args.tag}" if args.tag else ""), rows)


if __name__ == "__main__":
    main()
