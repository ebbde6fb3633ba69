"""Birds inference on this CPU: 8 birds from one prompt, text encoder included, median and p90 after warm-up.

    python benchmarks/bench_birds.py

Rows: the text encoder alone on one prompt; the generator alone on 8 latents; the whole
pipeline call the /birds endpoint makes (encode the prompt, noise per seed, G, PIL images);
the "vary one word" view (9 colours x 3 seeds, one grid image as the tab shows it); and the
first call after loading (the encoder's weights read from disk). Writes results/birds.json.
"""

from __future__ import annotations

import time

import torch

from bench_digits import training_running
from timing import report, time_calls
from gan_models.birds.colour_words import SWAP_WORDS
from gan_models.registry import DEMOS
from tabs.birds import word_grid

PROMPT = "a small yellow bird with black wings and a short pointed beak"


def main():
    background = training_running()
    t0 = time.perf_counter()
    pipe = DEMOS["birds"].pipeline.from_pretrained(DEMOS["birds"].embedded)
    pipe(PROMPT, 8, seed=0)
    cold = (time.perf_counter() - t0) * 1000
    encoder = pipe.text_encoder
    noise, text = torch.randn(8, pipe.generator.noise_dim), encoder.encode([PROMPT]).embeds.expand(8, -1)
    enc = time_calls(lambda: encoder.encode([PROMPT]), warmup=5, repeat=50)
    gen = time_calls(lambda: pipe.generate(noise, text), warmup=5, repeat=50)
    call = time_calls(lambda: pipe(PROMPT, 8, seed=0), warmup=5, repeat=50)
    vary = time_calls(lambda: word_grid(pipe.vary_word(PROMPT, SWAP_WORDS, num_seeds=3).images, list(SWAP_WORDS)),
                      warmup=3, repeat=20)
    rows = [{"what": name, "median (ms)": t["median_ms"], "p90 (ms)": t["p90_ms"], "runs": t["runs"],
             "torch threads": torch.get_num_threads(), "training running beside": background}
            for name, t in (("text encoder, one prompt", enc), ("generator only, 8 birds", gen),
                            ("pipeline: 8 birds from one prompt (encoder included), PIL", call),
                            ("vary one word: 9 colours x 3 seeds, one grid image", vary))]
    rows.append({"what": "first call: load generator + encoder, 8 birds", "median (ms)": round(cold, 1), "runs": 1,
                 "torch threads": torch.get_num_threads(), "training running beside": background})
    report("birds", rows)


if __name__ == "__main__":
    main()
