"""How long the Digits tab's "Do GAN digits train a classifier?" run takes on this CPU, as the tab runs it.

    python benchmarks/bench_digits_gan_train.py            # needs ../shared/data/mnist (or --mnist FOLDER_OR_ID)

Calls the tab's own action (tabs/digits.py: three classifiers on one torch thread, 2,000 held-out test digits) with
the default settings (10 real and 100 cGAN digits per class, 200 steps) and with the largest ones (50 real and 500
cGAN digits per class, 1,000 steps): the first call of the process (which also loads the cGAN and reads the
dataset's labels and test digits), then the median of ``--repeat`` calls of each (seeds 1, 2, ...). Writes results/digits_gan_train_speed.json; says whether a
training run was going on beside it.
"""

from __future__ import annotations

import argparse
import time

from bench_digits import training_running
from timing import report
from gan_models.judges.gan_train_settings import LOCAL_MNIST
from tabs.common import Models
from tabs.digits import make_gan_train_fn


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", default=LOCAL_MNIST)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    run = make_gan_train_fn(Models(use_hub=False), [args.mnist])
    background = training_running()
    t0 = time.perf_counter()
    run(10, 100, 200, 0, progress=None)
    rows = [{"run": "defaults, first call in the process (loads the cGAN, reads the labels and test digits)",
             "seconds (median)": round(time.perf_counter() - t0, 1), "runs": 1}]
    for real, gan, steps in ((10, 100, 200), (50, 500, 1000)):
        times = []
        for seed in range(1, 1 + args.repeat):
            t0 = time.perf_counter()
            run(real, gan, steps, seed, progress=None)
            times.append(time.perf_counter() - t0)
        rows.append({"run": f"{real} real + {gan} cGAN digits per class, {steps} steps",
                     "seconds (median)": round(sorted(times)[len(times) // 2], 1), "runs": len(times)})
    for row in rows:
        row.update({"torch threads": 1, "training running beside": background})
    report("digits_gan_train_speed", rows)


if __name__ == "__main__":
    main()
