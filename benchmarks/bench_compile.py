"""Does torch.compile pay off for the app's generators on this CPU? Eager and compiled, side by side.

    python benchmarks/bench_compile.py [--repeat 20]

For each demo, the network the app runs (the pipelines' fast forms: BatchNorm folded,
channels-last) at the tab's default batch, under torch.inference_mode(): eager, then
``torch.compile`` (Inductor, C++ code generated with the system compiler). "compile" is the
first compiled call (tracing + code generation), what a fresh app process would pay once per
shape. The outputs of the two are compared, so a row is only reported when they agree.
Writes results/compile.json.
"""

from __future__ import annotations

import argparse
import time

import torch

from timing import report, time_calls
from gan_models.registry import DEMOS


def cases():
    """(demo, what, function of one input, input) for each demo's generator at its tab's default batch."""
    faces = DEMOS["faces"].pipeline.from_pretrained(DEMOS["faces"].embedded)
    digits = DEMOS["digits"].pipeline.from_pretrained(DEMOS["digits"].embedded)
    birds = DEMOS["birds"].pipeline.from_pretrained(DEMOS["birds"].embedded)
    maps = DEMOS["maps"].pipeline.from_pretrained(DEMOS["maps"].embedded)
    yield ("faces", "16 faces", faces._fast,
           (torch.randn(16, faces.latent_dim)[:, :, None, None].contiguous(memory_format=torch.channels_last),))
    yield ("digits", "10 digits", digits.generator, (torch.randn(10, digits.latent_dim), torch.arange(10)))
    yield ("birds", "8 birds (generator)", birds.generator, (torch.randn(8, birds.generator.noise_dim),
                                                             torch.randn(8, birds.generator.text_dim)))
    yield ("maps", "one 256x256 tile", maps._fast["a2b"],
           (torch.rand(1, 3, 256, 256).mul(2).sub(1).contiguous(memory_format=torch.channels_last),))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    rows = []
    for demo, what, net, inputs in cases():
        with torch.inference_mode():
            eager = time_calls(lambda: net(*inputs), repeat=args.repeat)
            compiled = torch.compile(net)
            t0 = time.perf_counter()
            out = compiled(*inputs)
            first = time.perf_counter() - t0
            torch.testing.assert_close(out, net(*inputs), atol=1e-3, rtol=1e-3)
            fast = time_calls(lambda: compiled(*inputs), repeat=args.repeat)
        rows.append({"demo": demo, "what": what, "eager (ms)": eager["median_ms"],
                     "compiled (ms)": fast["median_ms"], "compiled / eager": round(fast["median_ms"] /
                                                                                  eager["median_ms"], 2),
                     "compile, first call (s)": round(first, 1)})
        print(rows[-1], flush=True)
    report("compile", rows)


if __name__ == "__main__":
    main()
