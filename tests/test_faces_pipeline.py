"""The faces pipeline: seeds, determinism, truncation, interpolation and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_models.faces.pipeline import DCGANPipeline
from gan_models.core.checks import MAX_SEED
from gan_models.core.checks import InputError


@pytest.fixture
def pipe(tiny_faces_folder):
    return DCGANPipeline.from_pretrained(tiny_faces_folder)


def arrays(images):
    return [np.asarray(im) for im in images]


def test_returns_the_requested_number_of_pil_images(pipe):
    out = pipe(5, seed=7)
    assert len(out.images) == 5 and out.seeds == [7, 8, 9, 10, 11]
    assert all(im.size == (32, 32) and im.mode == "RGB" for im in out.images)


def test_same_seed_same_faces_whatever_the_batch(pipe):
    a = arrays(pipe(4, seed=100).images)
    b = arrays(pipe(4, seed=100).images)
    c = arrays(pipe(seeds=[102]).images)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert np.array_equal(a[2], c[0])  # a face depends on its seed only
    assert not np.array_equal(a[0], a[1])


def test_torch_generator_is_deterministic(pipe):
    a = pipe(3, generator=torch.Generator().manual_seed(1), output_type="pt").images
    b = pipe(3, generator=torch.Generator().manual_seed(1), output_type="pt").images
    assert torch.equal(a, b) and a.shape == (3, 3, 32, 32)


def test_truncation_zero_gives_the_mean_face_for_every_seed(pipe):
    out = pipe(3, seed=0, truncation=0.0, output_type="pt").images
    assert torch.allclose(out[0], out[1]) and torch.allclose(out[1], out[2])
    varied = pipe(3, seed=0, truncation=1.0, output_type="pt").images
    assert not torch.allclose(varied[0], varied[1])


def test_interpolation_starts_and_ends_at_the_seeds(pipe):
    frames = pipe.interpolate(3, 9, num_frames=6, output_type="pt").images
    ends = pipe(seeds=[3, 9], output_type="pt").images
    assert frames.shape[0] == 6
    torch.testing.assert_close(frames[0], ends[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(frames[-1], ends[1], atol=1e-4, rtol=0)


def test_largest_seed_works_and_wraps(pipe):
    out = pipe(2, seed=MAX_SEED)
    assert out.seeds == [MAX_SEED, 0]


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": -1}, "seed must be between"),
    ({"seed": MAX_SEED + 1}, "seed must be between"),
    ({"seed": 1.5}, "whole number"),
    ({"seed": "abc"}, "seed must be a number"),
    ({"seed": math.nan}, "finite"),
    ({"seed": None}, "seed must be a number"),
    ({"num_images": 0}, "num_images must be between"),
    ({"num_images": 1000}, "num_images must be between"),
    ({"num_images": math.inf}, "finite"),
    ({"truncation": 1.5}, "truncation must be between"),
    ({"truncation": -0.1}, "truncation must be between"),
    ({"truncation": math.nan}, "finite"),
    ({"seeds": []}, "give between 1"),
    ({"seeds": [1, -2]}, "seed must be between"),
    ({"output_type": "jpeg"}, "output_type"),
])
def test_bad_input_gets_a_clear_message(pipe, kwargs, message):
    with pytest.raises(InputError, match=message):
        pipe(**{"num_images": 2, **kwargs})


def test_seed_given_as_text_of_a_number_is_accepted(pipe):
    assert pipe(1, seed="42").seeds == [42]
