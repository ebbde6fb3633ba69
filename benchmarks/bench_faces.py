"""Faces inference on this CPU: both models of the Faces tab in one run, and each one's fast path.

    python benchmarks/bench_faces.py              # results/faces.json
    python benchmarks/bench_faces.py --threads 1 --name faces_1thread

DCGAN: "plain" is the generator as written (ConvTranspose + BatchNorm, NCHW); "fast" is what the app runs:
BatchNorm folded into the convolutions, channels-last memory layout. Style-based: "plain" is the generator as
written (NCHW), "fast" the pipeline's channels-last copy (no layout copy around each upsampling). "pipeline" is
the whole call the tab makes: seeds to PIL images. The two models are timed in turns, in the same process, so
they share the machine's state; the last rows give the style-based model's time over the DCGAN's.
"""

from __future__ import annotations

import argparse

import torch

from timing import report, time_calls
from gan_models.registry import DEMOS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--name", default="faces")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dcgan = DEMOS["faces"].pipeline.from_pretrained(DEMOS["faces"].embedded)
    style = DEMOS["style_faces"].pipeline.from_pretrained(DEMOS["style_faces"].embedded)
    rows, pipeline_ms = [], {}
    for batch in (1, 16, 64):
        for name, pipe in (("DCGAN", dcgan), ("style-based", style)):
            noise = torch.randn(batch, pipe.latent_dim)
            if name == "DCGAN":
                with torch.inference_mode():
                    plain = time_calls(lambda: pipe.generator(noise))
                fast = time_calls(lambda: pipe.generate(noise))
            else:
                ws = pipe.map(noise)
                with torch.inference_mode():
                    plain = time_calls(lambda: pipe.generator.synthesize(ws, noise_mode="const"))
                fast = time_calls(lambda: pipe.synthesize(ws))
            full = time_calls(lambda: pipe(batch, seed=0), warmup=2, repeat=15)
            pipeline_ms[name, batch] = full["median_ms"]
            rows.append({"model": name, "faces": batch, "plain G (ms)": plain["median_ms"],
                         "fast G (ms)": fast["median_ms"], "fast p90 (ms)": fast["p90_ms"],
                         "speed-up": round(plain["median_ms"] / fast["median_ms"], 2),
                         "pipeline incl. noise + PIL (ms)": full["median_ms"]})
    for batch in (1, 16, 64):
        rows.append({"model": "style-based / DCGAN", "faces": batch,
                     "pipeline incl. noise + PIL (ms)": round(pipeline_ms["style-based", batch]
                                                              / pipeline_ms["DCGAN", batch], 2)})
    report(args.name, rows)


if __name__ == "__main__":
    main()
