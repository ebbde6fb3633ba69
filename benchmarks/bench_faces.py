"""Faces inference on this CPU: the pipeline's fast path against the plain network, side by side.

    python benchmarks/bench_faces.py

Both run the same embedded weights under torch.inference_mode(). "plain" is the
generator as written (ConvTranspose + BatchNorm, NCHW); "pipeline" is what the app
runs: BatchNorm folded into the convolutions, channels-last memory layout.
"""

from __future__ import annotations

import torch

from timing import report, time_calls
from gan_models.registry import DEMOS


def main():
    pipe = DEMOS["faces"].pipeline.from_pretrained(DEMOS["faces"].embedded)
    rows = []
    for batch in (1, 16, 64):
        noise = torch.randn(batch, pipe.latent_dim)
        with torch.inference_mode():
            plain = time_calls(lambda: pipe.generator(noise))
        fast = time_calls(lambda: pipe.generate(noise))
        full = time_calls(lambda: pipe(batch, seed=0), warmup=2, repeat=15)
        rows.append({"faces": batch, "plain G (ms)": plain["median_ms"], "fast G (ms)": fast["median_ms"],
                     "fast p90 (ms)": fast["p90_ms"], "speed-up": round(plain["median_ms"] / fast["median_ms"], 2),
                     "pipeline incl. noise + PIL (ms)": full["median_ms"]})
    report("faces", rows)


if __name__ == "__main__":
    main()
