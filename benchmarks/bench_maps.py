"""Maps (pix2pix) inference on this CPU: one 256x256 tile, and a large picture in tiles.

    python benchmarks/bench_maps.py              # 2 torch threads (the app's setting on this 2-core CPU)
    python benchmarks/bench_maps.py --threads 1

Rows: the U-Net as written (BatchNorm, NCHW) on one tile; what the app runs (BatchNorm folded
into the convolutions, dropout gone, channels-last); the whole pipeline call for a 256x256 PIL
picture (conversion, network, PIL output); and a 1024x1024 picture in "tiles" mode (25
overlapping tiles, blended) and in "fit" mode (resized to one tile). Writes results/maps.json.
"""

from __future__ import annotations

import argparse

import torch

from timing import report, time_calls
from gan_models.maps.palette import synthetic_pair
from gan_models.registry import DEMOS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = DEMOS["maps"].pipeline.from_pretrained(DEMOS["maps"].embedded)
    net = pipe.generator.nets["a2b"]
    tile = torch.rand(1, 3, 256, 256) * 2 - 1
    small = synthetic_pair(0, 256)[0]
    large = synthetic_pair(1, 1024)[0]
    with torch.inference_mode():
        plain = time_calls(lambda: net(tile), repeat=args.repeat)
    fast = time_calls(lambda: pipe.translate(tile, "a2b"), repeat=args.repeat)
    call = time_calls(lambda: pipe(small, "a2b"), repeat=args.repeat)
    tiles = time_calls(lambda: pipe(large, "a2b"), warmup=1, repeat=max(3, args.repeat // 4))
    fit = time_calls(lambda: pipe(large, "a2b", mode="fit"), repeat=args.repeat)
    params = sum(p.numel() for p in net.parameters())
    rows = [{"what": what, "median (ms)": t["median_ms"], "p90 (ms)": t["p90_ms"], "runs": t["runs"],
             "torch threads": torch.get_num_threads()}
            for what, t in (("one 256x256 tile, U-Net as written", plain),
                            ("one 256x256 tile, what the app runs (folded, channels-last)", fast),
                            ("pipeline: 256x256 PIL picture in, PIL out", call),
                            ("pipeline: 1024x1024 picture, tiles (25 tiles of 256)", tiles),
                            ("pipeline: 1024x1024 picture, fit (one tile)", fit))]
    rows[0]["parameters per direction"] = params
    rows[0]["fp16 MB per direction"] = round(params * 2 / 1e6, 2)
    report("maps", rows)


if __name__ == "__main__":
    main()
