"""Publishing weights, and loading them back the way the app does (from a local Hub cache, offline)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from gan_models.hub import publish
from gan_models.faces.dcgan import DCGANGenerator
from gan_models.faces.pipeline import DCGANPipeline
from gan_models.registry import DEMOS
from gan_models.hub.weights_source import load_demo


def test_publish_uploads_only_safe_files_of_a_loadable_folder(tiny_faces_folder, monkeypatch):
    import huggingface_hub

    calls = []

    class RecordingApi:
        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id))

        def create_branch(self, repo_id, branch, **kw):
            calls.append(("create_branch", branch))

        def upload_folder(self, repo_id, folder_path, allow_patterns, revision, **kw):
            calls.append(("upload", repo_id, revision, allow_patterns))

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.setenv("HF_TOKEN", "hf_test_not_a_real_token")
    (tiny_faces_folder / "optimizer.bin").write_bytes(b"pickle")  # must not travel
    files = publish.publish(tiny_faces_folder, "me/faces", "faces", revision="v1")
    assert files == ["faces_gan.py", "generator/config.json", "generator/diffusion_pytorch_model.safetensors",
                     "generator/faces_gan.py", "model_index.json"]  # the data, and the pipeline's own module file
    assert calls[0] == ("create_repo", "me/faces") and ("create_branch", "v1") in calls
    assert calls[-1][:3] == ("upload", "me/faces", "v1") and calls[-1][3] == files  # exactly those: no optimizer.bin


def test_publish_refuses_what_the_app_could_not_load(tiny_faces_folder):
    (tiny_faces_folder / "generator" / "diffusion_pytorch_model.safetensors").write_bytes(b"junk")
    with pytest.raises(SystemExit, match="cannot read weights file"):
        publish.publish(tiny_faces_folder, "me/faces", "faces", dry_run=True)
    with pytest.raises(SystemExit, match="not a repo id"):
        publish.publish(tiny_faces_folder, "faces", "faces", dry_run=True)


def test_publish_without_a_token_says_how_to_log_in(tiny_faces_folder, monkeypatch, tmp_path):
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(SystemExit, match="hf auth login"):
        publish.publish(tiny_faces_folder, "me/faces", "faces")


def populate_hub_cache(cache: Path, repo_id: str, folder: Path, commit: str = "a" * 40) -> None:
    """Lay out a folder as huggingface_hub's cache would after a download of ``repo_id`` at ``main``."""
    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / commit
    shutil.copytree(folder, snapshot)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)


def test_app_loader_reads_a_populated_local_hub_cache_offline(tiny_faces_folder, tmp_path, monkeypatch):
    cache = tmp_path / "hub-cache"
    populate_hub_cache(cache, "me/faces", tiny_faces_folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    demo = dataclasses.replace(DEMOS["faces"], weights_dir=tmp_path / "no-embedded")
    loaded = load_demo(demo, "me/faces", "main")
    assert loaded.origin == "Hub repo me/faces@main" and loaded.fallback is None
    ref = DCGANPipeline.from_pretrained(tiny_faces_folder)
    torch.testing.assert_close(loaded.pipeline(2, seed=5, output_type="pt").images,
                               ref(2, seed=5, output_type="pt").images)
    # and diffusers' own entry point reads the same cached repo
    model = DCGANGenerator.from_pretrained("me/faces", subfolder="generator", local_files_only=True,
                                           cache_dir=str(cache))
    assert model.latent_dim == 8
