"""Where weights come from: explicit folder, Hub (spaces.yml), embedded default, and the fallbacks."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gan_models.core.modeling import WeightsError
from gan_models.registry import DEMOS, WEIGHTS_DIR
from gan_models.hub.weights_source import hub_enabled, hub_source, load_demo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def faces_demo(tiny_faces_folder, tmp_path):
    """The faces demo with tiny embedded weights in a temporary weights folder."""
    weights = tmp_path / "weights"
    shutil.copytree(tiny_faces_folder, weights / "faces")
    return dataclasses.replace(DEMOS["faces"], weights_dir=weights)


def test_every_demo_ships_embedded_weights_that_load():
    for demo in DEMOS.values():
        assert demo.embedded.parent == WEIGHTS_DIR
        if demo.not_installed:  # weights trained later (Demo.weights_pending): test_a_demo_whose_weights_... below
            continue
        loaded = load_demo(demo, use_hub=False)
        assert "embedded default weights (gan_models/weights/" in loaded.origin and loaded.fallback is None


def test_a_demo_whose_weights_are_not_trained_yet_says_so(faces_demo, tiny_faces_folder, tmp_path):
    """Demo.weights_pending: with the embedded folder missing, loading says the weights are not installed yet and how
    they are made (not "weights folder not found"); a folder named explicitly still loads; without the flag a missing
    folder stays an error."""
    pending = dataclasses.replace(faces_demo, weights_dir=tmp_path / "none", weights_pending="train_x.py makes them")
    assert pending.not_installed == "train_x.py makes them" and faces_demo.not_installed == ""
    with pytest.raises(WeightsError, match=r"^its weights are not installed yet: train_x.py makes them$"):
        load_demo(pending, use_hub=False)
    assert load_demo(pending, str(tiny_faces_folder), use_hub=False).origin == f"folder {tiny_faces_folder}"
    with pytest.raises(WeightsError, match=r"weights folder not found: .*nowhere; and its weights are not installed"):
        load_demo(pending, str(tmp_path / "nowhere"), use_hub=False)
    installed = dataclasses.replace(pending, weights_dir=faces_demo.weights_dir)  # trained now: the flag is moot
    assert installed.not_installed == "" and load_demo(installed, use_hub=False).origin.startswith("embedded")
    missing = dataclasses.replace(faces_demo, weights_dir=tmp_path / "none")  # no flag: missing is an error
    assert missing.not_installed == ""
    with pytest.raises(WeightsError, match="weights folder not found"):
        load_demo(missing, use_hub=False)
    assert DEMOS["cyclegan_maps"].weights_pending and DEMOS["cyclegan_maps"].tab_id == "maps"


def test_spaces_yml_names_only_registered_demos():
    config = yaml.safe_load((ROOT / "spaces.yml").read_text())
    assert set(config["tabs"]) <= set(DEMOS)
    for name, demo in DEMOS.items():
        assert hub_source(demo) is not None, f"spaces.yml has no repo for {name}"


def test_explicit_folder_wins(faces_demo, tiny_faces_folder):
    loaded = load_demo(faces_demo, str(tiny_faces_folder), use_hub=False)
    assert loaded.origin == f"folder {tiny_faces_folder}" and loaded.fallback is None


def test_missing_folder_falls_back_to_embedded_and_says_why(faces_demo, tmp_path):
    loaded = load_demo(faces_demo, str(tmp_path / "nowhere"), use_hub=False)
    assert loaded.origin.startswith("embedded default weights")
    assert "weights folder not found" in loaded.fallback


def test_hub_offline_falls_back_to_embedded(faces_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spaces = tmp_path / "spaces.yml"
    spaces.write_text(yaml.safe_dump({"tabs": {"faces": {"repo": "someone/faces", "revision": "v1"}}}))
    loaded = load_demo(faces_demo, use_hub=True, spaces_file=spaces)
    assert loaded.origin.startswith("embedded default weights")
    assert "someone/faces@v1" in loaded.fallback


def test_a_space_refuses_a_floating_revision_unless_told_to(faces_demo, tmp_path, monkeypatch):
    """Inside a Space (SPACE_ID), a tab whose spaces.yml revision is a branch is not loaded from the Hub at all;
    allow_floating: true on the tab, GAN_GALLERY_ALLOW_FLOATING=1, or a commit id let the load go ahead (here it
    then fails offline, which says it was tried). Outside a Space a branch is fine."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("GAN_GALLERY_ALLOW_FLOATING", raising=False)

    def loaded(tab, **env):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        spaces = tmp_path / "spaces.yml"
        spaces.write_text(yaml.safe_dump({"tabs": {"faces": {"repo": "someone/faces", **tab}}}))
        result = load_demo(faces_demo, use_hub=True, spaces_file=spaces)
        assert result.origin.startswith("embedded default weights")
        return result.fallback

    tried = "cannot get weights from the Hub repo someone/faces@"
    monkeypatch.setenv("SPACE_ID", "someone/gan-gallery")
    refused = loaded({"revision": "main"})
    assert "follows someone/faces@main, a branch or tag" in refused and "allow_floating: true" in refused
    assert "GAN_GALLERY_ALLOW_FLOATING=1" in refused and tried not in refused  # never reached for the Hub
    assert tried + "main" in loaded({"revision": "main", "allow_floating": True})
    assert tried + "v1" in loaded({"revision": "v1"}, GAN_GALLERY_ALLOW_FLOATING="1")
    monkeypatch.delenv("GAN_GALLERY_ALLOW_FLOATING")
    assert tried + "a" * 40 in loaded({"revision": "a" * 40})
    monkeypatch.delenv("SPACE_ID")
    assert tried + "main" in loaded({"revision": "main"})  # GAN_GALLERY_HUB=1 on a laptop may follow a branch

    # a deployed Space ships no embedded weights for its Hub tabs: the tab's error leads with the refusal
    monkeypatch.setenv("SPACE_ID", "someone/gan-gallery")
    shutil.rmtree(faces_demo.embedded)
    with pytest.raises(WeightsError, match=r"follows someone/faces@main.*no embedded weights to fall back on"):
        loaded({"revision": "main"})


def test_unreachable_hub_falls_back_over_a_real_failing_connection(faces_demo, tmp_path):
    """A real HTTP attempt to a closed local port, in a fresh interpreter (the endpoint is read at import)."""
    code = f"""
import dataclasses, json, sys
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from gan_models.registry import DEMOS
from gan_models.hub.weights_source import load_demo
demo = dataclasses.replace(DEMOS["faces"], weights_dir=Path({str(faces_demo.weights_dir)!r}))
loaded = load_demo(demo, "someone/faces", "main")
print(json.dumps({{"origin": loaded.origin, "fallback": loaded.fallback}}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"), HF_HUB_ETAG_TIMEOUT="2",
               HF_HUB_DOWNLOAD_TIMEOUT="2")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["origin"].startswith("embedded default weights")
    assert "cannot get weights from the Hub repo someone/faces@main" in report["fallback"]


def test_broken_embedded_weights_raise_an_error_naming_the_file(faces_demo):
    (faces_demo.embedded / "generator" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(WeightsError, match=r"faces/generator/diffusion_pytorch_model.safetensors"):
        load_demo(faces_demo, use_hub=False)


def test_hub_switch(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("GAN_GALLERY_HUB", raising=False)
    assert not hub_enabled()
    monkeypatch.setenv("SPACE_ID", "someone/gan-gallery")
    assert hub_enabled()
    monkeypatch.setenv("GAN_GALLERY_HUB", "0")
    assert not hub_enabled()
    monkeypatch.setenv("GAN_GALLERY_HUB", "1")
    assert hub_enabled()


@pytest.mark.parametrize("change, fragment", [
    ({"base_channels": -4}, "base_channels must be a whole number from 1 to 256"),
    ({"latent_dim": 10**9}, "latent_dim must be a whole number from 1 to 1024"),
    ({"latent_dim": 8.5}, "latent_dim must be a whole number"),
    ({"latent_dim": True}, "latent_dim must be a whole number"),
    ({"image_size": 48}, "does not describe a buildable DCGANGenerator"),   # in bounds, but not a power of two
    ({"layers": 3}, "'layers' is not a setting of DCGANGenerator"),
])
def test_a_bad_config_is_refused_and_the_tab_falls_back(faces_demo, tmp_path, change, fragment):
    bad = tmp_path / "bad"
    shutil.copytree(faces_demo.embedded, bad)
    config = json.loads((bad / "generator" / "config.json").read_text())
    (bad / "generator" / "config.json").write_text(json.dumps({**config, **change}))
    from gan_models.faces.pipeline import DCGANPipeline

    with pytest.raises(WeightsError, match=fragment):
        DCGANPipeline.from_pretrained(bad)
    loaded = load_demo(faces_demo, str(bad), use_hub=False)
    assert "embedded default weights" in loaded.origin and fragment.split(" ")[0] in loaded.fallback


def test_nested_settings_are_checked_too(tmp_path):
    from gan_models.maps.pipeline import Pix2PixPipeline

    folder = tmp_path / "maps"
    shutil.copytree(DEMOS["maps"].embedded, folder)
    config = json.loads((folder / "generator" / "config.json").read_text())
    config["a2b"]["base_channels"] = 10**6
    (folder / "generator" / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="a2b U-Net's settings: base_channels must be"):
        Pix2PixPipeline.from_pretrained(folder)
