"""Digits inference on this CPU: a 10x10 grid (ten of every digit), median and p90 after warm-up.

    python benchmarks/bench_digits.py

Rows: the generator alone on 100 latents; the pipeline call the /digits endpoint makes for
"all" digits x 10 (noise per seed, G, PIL images); and the "same style, every digit" view
(10 styles x 10 digits, composed into one grid image as the tab shows it). Writes
results/digits.json. Other processes compete for the CPU: the table says whether a
training run was going on beside the benchmark.
"""

from __future__ import annotations

from pathlib import Path

import torch

from timing import report, time_calls
from gan_models.registry import DEMOS
from tabs.digits import grid_image


def training_running() -> str:
    """Names of training scripts running now (from /proc), or "none"."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        found.update(Path(a.decode(errors="replace")).name for a in args if b"training/train_" in a)
    return ", ".join(sorted(found)) or "none"


def main():
    pipe = DEMOS["digits"].pipeline.from_pretrained(DEMOS["digits"].embedded)
    background = training_running()
    noise, labels = torch.randn(100, pipe.latent_dim), torch.arange(10).repeat_interleave(10)
    plain = time_calls(lambda: pipe.generate(noise, labels), warmup=5, repeat=50)
    call = time_calls(lambda: pipe(labels=range(10), num_images=10, seed=0), warmup=5, repeat=50)
    view = time_calls(lambda: grid_image(pipe.same_style(10, seed=0).images, 10), warmup=5, repeat=50)
    rows = [{"10x10 grid": name, "median (ms)": t["median_ms"], "p90 (ms)": t["p90_ms"], "runs": t["runs"],
             "torch threads": torch.get_num_threads(), "training running beside": background}
            for name, t in (("generator only", plain), ("pipeline: 10 of each digit, PIL", call),
                            ("same-style view, one grid image", view))]
    report("digits", rows)


if __name__ == "__main__":
    main()
