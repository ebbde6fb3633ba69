"""The gallery as diffusers sees it: pipeline folders, both loading paths, the same pictures as before the move,
earlier-layout folders, dtype and progress bars."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_models.core import remote_code
from gan_models.core.pipelines import GANPipeline
from gan_models.registry import DEMOS

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "tests" / "data"


def strip(images) -> np.ndarray:
    return np.concatenate([np.asarray(im) for im in images], axis=1).astype(np.int16)


def reference(name: str) -> np.ndarray:
    with Image.open(REFERENCES / f"reference-{name}.png") as im:
        return np.asarray(im).astype(np.int16)


# ----------------------------------------------------------------------------- the same pictures as before
def test_faces_digits_and_maps_draw_what_they_drew_before_the_move():
    """tests/data/reference-*.png were drawn by the pipelines before they became diffusers pipelines (same fp16
    weights, same seeds): the new pipelines draw the same pixels (fp16 tolerance: at most 1 level in 255)."""
    from gan_models.maps.palette import draw_map

    faces = DEMOS["faces"].pipeline.from_pretrained(DEMOS["faces"].embedded)
    digits = DEMOS["digits"].pipeline.from_pretrained(DEMOS["digits"].embedded)
    maps = DEMOS["maps"].pipeline.from_pretrained(DEMOS["maps"].embedded)
    for name, images in [
        ("faces-seeds-0-3", faces(4, seed=0, truncation=0.8).images),
        ("digits-3-7-seeds-5-6", digits(labels=[3, 7], num_images=2, seed=5).images),
        ("maps-b2a-drawn-seed-3", maps(draw_map(3, 256), "b2a", mode="fit").images),
    ]:
        diff = np.abs(strip(images) - reference(name))
        assert diff.max() <= 1, (name, diff.max())


def test_birds_draw_what_they_drew_with_the_hand_written_encoder():
    """The same for the birds, whose text encoder is now transformers' BertModel instead of our own BERT.

    (When the embedded birds weights change, the reference is drawn anew from them: its commit says so.)"""
    pipe = DEMOS["birds"].pipeline.from_pretrained(DEMOS["birds"].embedded)
    diff = np.abs(strip(pipe("a small yellow bird with black wings", 4, seed=0).images) - reference("birds-seeds-0-3"))
    assert diff.max() <= 1, diff.max()


# ----------------------------------------------------------------------------- folders
@pytest.mark.parametrize("name", list(DEMOS))
def test_embedded_weights_are_pipeline_folders(name):
    demo = DEMOS[name]
    if demo.not_installed:
        pytest.skip(f"{name}: no embedded weights yet: {demo.not_installed}")
    index = json.loads((demo.embedded / "model_index.json").read_text())
    cls = demo.pipeline
    assert index["_class_name"] == [cls.remote_module, cls.__name__]
    from safetensors.torch import load_file

    for component, component_cls in cls.component_classes.items():  # "generator"; superres: srresnet + srgan
        assert index[component] == [cls.remote_module, component_cls.__name__]
        config = json.loads((demo.embedded / component / "config.json").read_text())
        assert config["_class_name"] == component_cls.__name__
        tensors = load_file(str(demo.embedded / component / "diffusion_pytorch_model.safetensors"))
        assert {t.dtype for t in tensors.values() if t.is_floating_point()} == {torch.float16}
    # diffusers' convention for custom code on the Hub: the module file at the top and in each component's folder
    for folder in [demo.embedded] + [demo.embedded / c for c in cls.component_classes]:
        assert (folder / f"{cls.remote_module}.py").read_text() == remote_code.joined_source(
            cls.remote_module, cls.remote_modules), "the module file is stale: save the folder again"
    card = (demo.embedded / "README.md").read_text()
    assert "library_name: diffusers" in card and "trust_remote_code=True" in card


GAN_DEMOS = ["faces", "digits", "birds", "maps", "superres"]


@pytest.mark.parametrize("name", GAN_DEMOS)
def test_embedded_gan_folders_carry_their_discriminator_and_training_state(name):
    """StyleGAN2-ADA's convention: training goes on from G + D, so each folder ships its D (fp16) and step count
    (the training scripts' tests run a step from each folder with --resume_from_weights)."""
    from safetensors.torch import load_file

    folder = DEMOS[name].embedded
    tensors = load_file(str(folder / "discriminator" / "diffusion_pytorch_model.safetensors"))
    assert len(tensors) > 2 and {t.dtype for t in tensors.values() if t.is_floating_point()} == {torch.float16}
    assert json.loads((folder / "discriminator" / "config.json").read_text())["_class_name"].endswith("Discriminator")
    state = json.loads((folder / "training_state.json").read_text())
    assert set(state) == {"step", "ema_updates"} and state["step"] > 0


def test_all_embedded_weights_together_stay_within_80_mb():
    total = sum(f.stat().st_size for f in (ROOT / "gan_models" / "weights").rglob("*") if f.is_file())
    assert total <= 80e6, f"{total / 1e6:.1f} MB"


def test_save_and_load_round_trip_with_d_and_training_state(tiny_faces_folder, tmp_path):
    from gan_models.faces.dcgan import DCGANDiscriminator
    from gan_models.faces.pipeline import DCGANPipeline

    pipe = DCGANPipeline.from_pretrained(tiny_faces_folder)
    d = DCGANDiscriminator(base_channels=4, image_size=32)
    pipe.save_pretrained(tmp_path / "run", discriminator=d, training_state={"step": 9, "ema_updates": 9})
    assert json.loads((tmp_path / "run" / "training_state.json").read_text()) == {"step": 9, "ema_updates": 9}
    index = json.loads((tmp_path / "run" / "model_index.json").read_text())
    assert "discriminator" not in index and "_name_or_path" not in index  # D is no pipeline component
    again = DCGANDiscriminator.load_strict(tmp_path / "run" / "discriminator")
    assert all(torch.equal(a, b) for a, b in zip(d.state_dict().values(), again.state_dict().values()))
    pipe.save_pretrained(tmp_path / "run")  # saved again without them: nothing stale is left to mismatch
    assert not (tmp_path / "run" / "discriminator").exists() and not (tmp_path / "run" / "training_state.json").exists()
    with pytest.raises(ValueError, match="gan_models.hub.publish"):
        pipe.save_pretrained(tmp_path / "x", push_to_hub=True)


def test_torch_dtype_to_and_progress_bar(tiny_faces_folder, capsys):
    from gan_models.faces.pipeline import DCGANPipeline

    pipe = DCGANPipeline.from_pretrained(tiny_faces_folder, torch_dtype=torch.float16)
    assert pipe.dtype == torch.float16 and pipe.generator.dtype == torch.float16
    half = pipe(2, seed=1, output_type="pt").images
    full = pipe.to(torch.float32)(2, seed=1, output_type="pt").images  # the fast form follows the dtype
    assert pipe.dtype == torch.float32 and half.dtype == full.dtype == torch.float32
    torch.testing.assert_close(half, full, atol=2e-2, rtol=0)
    pipe.interpolate(0, 1, num_frames=20)
    assert "3/3" in capsys.readouterr().err  # 20 frames in 3 batches of 8, with a tqdm bar
    pipe.set_progress_bar_config(disable=True)
    pipe.interpolate(0, 1, num_frames=20)
    assert "3/3" not in capsys.readouterr().err


def test_an_earlier_layout_folder_loads_with_a_note_and_converts(tmp_path, caplog):
    from gan_models.faces.dcgan import DCGANGenerator
    from gan_models.faces.pipeline import DCGANPipeline
    from gan_models.hub.convert import main as convert
    from safetensors.torch import save_file

    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=8, base_channels=4, image_size=32).eval()
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps({"latent_dim": 8, "base_channels": 4, "image_size": 32}))
    save_file({k: v.contiguous() for k, v in g.state_dict().items()}, str(old / "model.safetensors"))
    (old / "README.md").write_text("card")
    with caplog.at_level(logging.WARNING, logger="gan_gallery"):
        pipe = DCGANPipeline.from_pretrained(old)
    assert "earlier layout" in caplog.text and "gan_models.hub.convert" in caplog.text
    convert([str(old), str(tmp_path / "new"), "--demo", "faces", "--fp16"])
    new = DCGANPipeline.from_pretrained(tmp_path / "new")
    assert (tmp_path / "new" / "model_index.json").is_file() and (tmp_path / "new" / "README.md").read_text() == "card"
    torch.testing.assert_close(new(2, seed=3, output_type="pt").images, pipe(2, seed=3, output_type="pt").images,
                               atol=1e-2, rtol=0)  # fp16 weights
    with pytest.raises(SystemExit, match="not in the earlier layout"):
        convert([str(tmp_path / "new"), str(tmp_path / "again"), "--demo", "faces"])


def test_a_module_that_cannot_stand_alone_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "badmod.py"
    bad.write_text("def f():\n    from .other import x\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(remote_code.RemoteCodeError, match="inside a function"):
        remote_code.joined_source("bad", ["badmod"])
    bad.write_text("from gan_models.core import checks\n")
    with pytest.raises(remote_code.RemoteCodeError, match="absolute import of the package"):
        remote_code.joined_source("bad2", ["badmod"])


def test_a_folder_that_is_no_pipeline_is_named(tmp_path):
    from gan_models.core.modeling import WeightsError
    from gan_models.faces.pipeline import DCGANPipeline

    with pytest.raises(WeightsError, match="holds no model_index.json"):
        DCGANPipeline.from_pretrained(tmp_path)


def test_every_pipeline_is_a_diffusion_pipeline():
    from diffusers import DiffusionPipeline, ModelMixin

    for demo in DEMOS.values():
        assert issubclass(demo.pipeline, GANPipeline) and issubclass(demo.pipeline, DiffusionPipeline)
        for cls in demo.pipeline.component_classes.values():
            assert issubclass(cls, ModelMixin)


def test_the_readme_snippets_run_as_pasted(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Use the models without the app", 1)[1].split("\n## ", 1)[0]
    snippets = [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]
    assert len(snippets) == 2 and "from diffusers import DiffusionPipeline" in snippets[0]  # diffusers' way first
    monkeypatch.chdir(ROOT)
    for snippet in snippets:
        scope = {}
        exec(snippet, scope)
        assert len(scope["out"].images) == 16
    assert len(scope["out"].seeds) == 16 and scope["out"].seeds[0] == 42
