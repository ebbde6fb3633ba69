"""Super-resolution (SRResNet / SRGAN) inference on this CPU: one 64x64 -> 256x256 and one 256x256 -> 1024x1024 upscale.

    python benchmarks/bench_superres.py --threads 1   # what this 2-core CPU spares while a training runs
    python benchmarks/bench_superres.py --threads 2

Rows: the generator alone on a 1 x 3 x 64 x 64 tensor (channels-last, inference mode); the
whole pipeline call for a 64x64 PIL picture (checks, conversion, network, PIL output); the
pipeline for a 256x256 picture (one tile: the tile side is 256); and the same 256x256 picture
in four 128-pixel tiles with their margins, to show what tiling costs. Bicubic for
comparison. The pictures are drawn by code (gan_models/maps/palette.py). Writes
results/superres.json.
"""

from __future__ import annotations

import argparse

import torch

from timing import report, time_calls
from gan_models.maps.palette import draw_map
from gan_models.registry import DEMOS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--weights", default=None, help="a pipeline folder (default: the embedded weights)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = DEMOS["superres"].pipeline.from_pretrained(args.weights or DEMOS["superres"].embedded)
    pipe.set_progress_bar_config(disable=True)
    net = pipe.srgan.to(memory_format=torch.channels_last)
    small, large = draw_map(0, 64), draw_map(1, 256)
    tensor = (torch.rand(1, 3, 64, 64) * 2 - 1).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        bare = time_calls(lambda: net(tensor), repeat=args.repeat)
    call_small = time_calls(lambda: pipe(small, "srgan"), repeat=args.repeat)
    call_large = time_calls(lambda: pipe(large, "srgan"), warmup=2, repeat=max(5, args.repeat // 2))
    tiled = time_calls(lambda: pipe(large, "srgan", tile_size=128), warmup=1, repeat=max(5, args.repeat // 2))
    bicubic = time_calls(lambda: pipe(large, "bicubic"), repeat=args.repeat)
    params = sum(p.numel() for p in net.parameters())
    rows = [{"what": what, "median (ms)": t["median_ms"], "p90 (ms)": t["p90_ms"], "runs": t["runs"],
             "torch threads": torch.get_num_threads()}
            for what, t in (("generator alone, 64x64 -> 256x256 tensor", bare),
                            ("pipeline: 64x64 picture -> 256x256 (SRGAN)", call_small),
                            ("pipeline: 256x256 picture -> 1024x1024 (SRGAN, one tile)", call_large),
                            ("pipeline: 256x256 -> 1024x1024 in 4 tiles of 128 (+ margins)", tiled),
                            ("pipeline: 256x256 -> 1024x1024, bicubic", bicubic))]
    rows[0]["parameters per generator"] = params
    rows[0]["fp16 MB per generator"] = round(params * 2 / 1e6, 2)
    report("superres", rows)


if __name__ == "__main__":
    main()
