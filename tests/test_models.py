"""Model shapes, ranges, diffusers-format round trips and strict, safe weight loading."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from gan_models.faces.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_models.faces.pipeline import DCGANPipeline
from gan_models.core.modeling import WeightsError, fuse_batchnorm

WEIGHTS = "diffusion_pytorch_model.safetensors"


@pytest.fixture
def gen_folder(tiny_faces_folder):
    return tiny_faces_folder / "generator"  # the generator's own folder inside the pipeline folder


@pytest.mark.parametrize("size", [32, 64])
def test_generator_and_discriminator_shapes(size):
    g = DCGANGenerator(latent_dim=16, base_channels=4, image_size=size)
    d = DCGANDiscriminator(base_channels=4, image_size=size)
    images = g(torch.randn(5, 16))
    assert images.shape == (5, 3, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert d(images).shape == (5,)
    d_bn = DCGANDiscriminator(base_channels=4, image_size=size, spectral=False)
    assert d_bn(images).shape == (5,)


def test_bad_image_size_is_refused():
    with pytest.raises(ValueError, match="image_size"):
        DCGANGenerator(image_size=48)


def test_save_load_round_trip_is_identical(gen_folder):
    config = json.loads((gen_folder / "config.json").read_text())
    assert {k: v for k, v in config.items() if not k.startswith("_")} == {
        "latent_dim": 8, "base_channels": 4, "image_size": 32, "out_channels": 3}
    assert config["_class_name"] == "DCGANGenerator"  # diffusers' ConfigMixin
    a = DCGANGenerator.load_strict(gen_folder)
    b = DCGANGenerator.from_pretrained(gen_folder)  # diffusers' own entry point (ModelMixin)
    z = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.equal(a(z), b(z))
    b.save_pretrained(gen_folder.parent / "again")
    c = DCGANGenerator.load_strict(gen_folder.parent / "again")
    with torch.no_grad():
        assert torch.equal(a(z), c(z))


def test_fused_batchnorm_matches_the_plain_network(gen_folder):
    g = DCGANGenerator.load_strict(gen_folder)
    fused = fuse_batchnorm(g.net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    z = torch.randn(4, 8, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(fused(z), g.net(z), atol=1e-5, rtol=1e-4)


def test_missing_weights_file_is_named(gen_folder):
    (gen_folder / WEIGHTS).unlink()
    with pytest.raises(WeightsError, match=WEIGHTS):
        DCGANGenerator.load_strict(gen_folder)


def test_corrupt_weights_file_is_named(gen_folder):
    path = gen_folder / WEIGHTS
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(WeightsError, match="cannot read weights file .*diffusion_pytorch_model.safetensors"):
        DCGANGenerator.load_strict(gen_folder)


def test_weights_that_do_not_fit_the_config_are_rejected(gen_folder):
    config = gen_folder / "config.json"
    config.write_text(json.dumps({"latent_dim": 8, "base_channels": 8, "image_size": 32}))
    with pytest.raises(WeightsError, match="wrong shape"):
        DCGANGenerator.load_strict(gen_folder)


def test_missing_and_unexpected_tensors_are_named(gen_folder):
    state = DCGANGenerator(latent_dim=8, base_channels=4, image_size=32).state_dict()
    state["extra.weight"] = state.pop("net.0.weight")
    save_file(state, str(gen_folder / WEIGHTS))
    with pytest.raises(WeightsError, match=r"missing \['net.0.weight'\].*unexpected \['extra.weight'\]"):
        DCGANGenerator.load_strict(gen_folder)


def test_nan_weights_are_rejected(gen_folder):
    state = DCGANGenerator(latent_dim=8, base_channels=4, image_size=32).state_dict()
    state["net.0.weight"][0] = float("nan")
    save_file(state, str(gen_folder / WEIGHTS))
    with pytest.raises(WeightsError, match="NaN"):
        DCGANGenerator.load_strict(gen_folder)


def test_config_that_is_not_this_model_is_named(gen_folder):
    (gen_folder / "config.json").write_text('{"num_classes": 10}')
    with pytest.raises(WeightsError, match="config.json"):
        DCGANGenerator.load_strict(gen_folder)


def test_fp16_weights_load_into_fp32(gen_folder):
    g = DCGANGenerator.load_strict(gen_folder)
    DCGANPipeline(g.half()).save_pretrained(gen_folder.parent.parent / "half")
    h = DCGANPipeline.from_pretrained(gen_folder.parent.parent / "half")
    assert h.generator.net[0].weight.dtype == torch.float32
    h16 = DCGANPipeline.from_pretrained(gen_folder.parent.parent / "half", torch_dtype=torch.float16)
    assert h16.generator.net[0].weight.dtype == torch.float16 and h16.dtype == torch.float16
