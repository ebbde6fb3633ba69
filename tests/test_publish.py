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


def commit_returning_api(commit, calls):
    """HfApi with its HTTP calls replaced: upload_folder answers as the Hub does, with the new commit."""
    from huggingface_hub import CommitInfo

    class Api:
        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id))

        def create_branch(self, repo_id, branch, **kw):
            calls.append(("create_branch", branch))

        def upload_folder(self, repo_id, **kw):
            calls.append(("upload", repo_id))
            return CommitInfo(commit_url=f"https://huggingface.co/{repo_id}/commit/{commit}",
                              commit_message="Upload", commit_description="", oid=commit)

    return Api


def test_publish_pins_the_commit_the_hub_returns_in_spaces_yml(tiny_faces_folder, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    from gan_models.hub import space

    commit, calls = "9" * 40, []  # digits only: it must still read back as text, not a number
    monkeypatch.setattr(huggingface_hub, "HfApi", commit_returning_api(commit, calls))
    monkeypatch.setenv("HF_TOKEN", "hf_test_not_a_real_token")
    original = (Path(__file__).resolve().parents[1] / "spaces.yml").read_text()
    manifest = tmp_path / "spaces.yml"
    manifest.write_text(original)
    repo = space.load_manifest(manifest).tabs["faces"].repo
    publish.publish(tiny_faces_folder, repo, "faces", revision="v2", manifest=manifest)
    assert calls[-1] == ("upload", repo)
    pinned = space.load_manifest(manifest)
    assert pinned.tabs["faces"].revision == commit and space.is_commit_id(pinned.tabs["faces"].revision)
    assert all(tab.revision == "main" for name, tab in pinned.tabs.items() if name != "faces")
    changed = [(a, b) for a, b in zip(original.splitlines(), manifest.read_text().splitlines()) if a != b]
    assert changed == [("    revision: main", f'    revision: "{commit}"')]  # comments and the rest untouched
    assert f"pinned: {manifest}" in capsys.readouterr().out

    # another repo than the tab names: spaces.yml stays as it is, and the lines to paste are printed
    before = manifest.read_text()
    publish.publish(tiny_faces_folder, "me/faces", "faces", manifest=manifest)
    printed = capsys.readouterr().out
    assert manifest.read_text() == before
    lines = printed[printed.index("  faces:"):]
    pasted = tmp_path / "pasted.yml"
    pasted.write_text(f"title: T\nsdk: gradio\napp_file: app.py\ntabs:\n{lines}")
    assert space.load_manifest(pasted).tabs["faces"] == space.Tab("me/faces", commit, 5)


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
