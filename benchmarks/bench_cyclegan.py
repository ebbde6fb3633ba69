"""Maps, unpaired (CycleGAN) inference on this CPU, at the widths train_cyclegan.py trains by default.

    python benchmarks/bench_cyclegan.py              # 2 torch threads (the app's setting on this 2-core CPU)
    python benchmarks/bench_cyclegan.py --threads 1

The networks get random weights (the time does not depend on the values; the trained ones are not
in yet): the embedded folder's when it is there. Rows: one 256x256 tile through one ResNet
generator (NCHW, and channels-last), the pipeline call on a 256x256 picture, a 1024x1024 picture
in tiles (25 overlapping 256x256 tiles), the way there and back on a 256x256 picture (two
translations, the error) and the hidden-signal view of a 256x256 map. Writes results/cyclegan.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from timing import report, time_calls
from gan_models.maps.palette import synthetic_pair
from gan_models.registry import DEMOS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    demo = DEMOS["cyclegan_maps"]
    if demo.not_installed:
        import train_cyclegan
        from gan_models.maps.cyclegan import CycleGANGenerator

        defaults = train_cyclegan.parse_args([])
        net = {"base_channels": defaults.g_channels, "num_blocks": defaults.g_blocks}
        torch.manual_seed(0)
        pipe = demo.pipeline(CycleGANGenerator(a2b=net, b2a=net, a_name="aerial", b_name="map",
                                               tile_size=defaults.eval_size))
        weights = f"random weights, the training defaults (width {defaults.g_channels}, {defaults.g_blocks} blocks)"
    else:
        pipe = demo.pipeline.from_pretrained(demo.embedded)
        weights = "the embedded weights"
    pipe.set_progress_bar_config(disable=True)
    net = pipe.generator.nets["a2b"]
    tile = torch.rand(1, 3, 256, 256) * 2 - 1
    small, large = synthetic_pair(0, 256)[0], synthetic_pair(1, 1024)[0]
    drawn_map = pipe(small, "a2b").images[0]
    with torch.inference_mode():
        plain = time_calls(lambda: net(tile), repeat=args.repeat)
        last = time_calls(lambda: net(tile.contiguous(memory_format=torch.channels_last)), repeat=args.repeat)
    fast = time_calls(lambda: pipe.translate(tile, "a2b"), repeat=args.repeat)
    call = time_calls(lambda: pipe(small, "a2b"), repeat=args.repeat)
    tiles = time_calls(lambda: pipe(large, "a2b"), warmup=1, repeat=max(3, args.repeat // 4))
    cycle = time_calls(lambda: pipe.cycle(small, "a2b", noise=2.0), repeat=max(3, args.repeat // 2))
    hidden = time_calls(lambda: pipe.hidden_signal(drawn_map), repeat=args.repeat)
    params = sum(p.numel() for p in net.parameters())
    rows = [{"what": what, "median (ms)": t["median_ms"], "p90 (ms)": t["p90_ms"], "runs": t["runs"],
             "torch threads": torch.get_num_threads()}
            for what, t in (("one 256x256 tile, one generator, NCHW", plain),
                            ("one 256x256 tile, one generator, channels-last input", last),
                            ("one 256x256 tile, pipe.translate (what the app runs)", fast),
                            ("pipeline: 256x256 PIL picture in, PIL out", call),
                            ("pipeline: 1024x1024 picture, tiles (25 tiles of 256)", tiles),
                            ("pipe.cycle: 256x256 picture there and back, noise 2", cycle),
                            ("pipe.hidden_signal: 256x256 map", hidden))]
    rows[0]["weights"] = weights
    rows[0]["parameters per direction"] = params
    rows[0]["fp16 MB per direction"] = round(params * 2 / 1e6, 2)
    report("cyclegan", rows)


if __name__ == "__main__":
    main()
