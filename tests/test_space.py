"""spaces.yml: validation with line numbers, the rendered Space README, the files uploaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gan_models.hub import space
from gan_models.registry import DEMOS

ROOT = Path(__file__).resolve().parents[1]


def front_matter(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


def test_rendered_front_matter_matches_spaces_yml_and_the_registry():
    manifest = space.load_manifest()
    raw = yaml.safe_load((ROOT / "spaces.yml").read_text())
    front = front_matter(space.render_readme(manifest))
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py" == raw["app_file"]
    assert front["title"] == raw["title"] and front["python_version"] == str(raw["python_version"])
    requirements = (ROOT / "requirements.txt").read_text()
    assert f"gradio=={front['sdk_version']}" in requirements
    assert set(raw["tabs"]) <= set(DEMOS)
    assert front["models"] == [t["repo"] for t in raw["tabs"].values()]
    for entry, (name, tab) in zip(front["preload_from_hub"], raw["tabs"].items()):
        repo, files, revision = entry.split(" ")
        assert repo == tab["repo"] and revision == str(tab["revision"])
        files = files.split(",")
        assert files[0] == "model_index.json"
        for component in DEMOS[name].pipeline.component_classes:  # "generator"; superres: srresnet + srgan
            assert {f"{component}/config.json", f"{component}/diffusion_pytorch_model.safetensors"} <= set(files)
        assert ("text_encoder/model.safetensors" in files) == (name == "birds")  # the birds' repo carries the encoder


def test_upload_holds_the_app_and_nothing_else():
    files = space.space_files(space.load_manifest())
    assert "app.py" in files and "requirements.txt" in files and "spaces.yml" in files
    assert "gan_models/registry.py" in files and "tabs/faces.py" in files
    package = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gan_models").rglob("*.py")
               if "/weights/" not in p.as_posix() and "__pycache__" not in p.as_posix()}
    assert package <= set(files) and "gan_models/faces/pipeline.py" in files  # every module the app may import
    assert not any(f.startswith(("tests/", "training/", "benchmarks/", ".ci")) for f in files)
    assert not any(f.endswith((".parquet", ".png", ".pkl", ".bin")) for f in files)
    assert not any("/weights/" in f for f in files)  # every tab reads the Hub: no embedded weights
    for f in files:
        assert (ROOT / f).is_file()


def test_a_tab_without_a_hub_repo_ships_its_embedded_weights():
    manifest = space.load_manifest()
    manifest.tabs.pop("faces")
    files = space.space_files(manifest)
    assert "gan_models/weights/faces/generator/diffusion_pytorch_model.safetensors" in files
    assert "gan_models/weights/faces/generator/config.json" in files and "gan_models/weights/faces/model_index.json" in files


def write(tmp_path, text):
    path = tmp_path / "spaces.yml"
    path.write_text(text)
    return path


GOOD = """title: T
sdk: gradio
app_file: app.py
tabs:
  faces:
    repo: me/faces
    revision: 0123456789abcdef0123456789abcdef01234567
"""


def test_a_good_manifest_loads(tmp_path):
    manifest = space.load_manifest(write(tmp_path, GOOD))
    assert manifest.tabs["faces"].repo == "me/faces" and manifest.hardware == "cpu-basic"


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("  faces:", "  facez:"), r"line 5: unknown tab 'facez'"),
    (GOOD.replace("    repo: me/faces\n", ""), r"line 5: tab 'faces' has no repo id"),
    (GOOD.replace("me/faces", "not a repo"), r"line 6: .*'not a repo' is not a Hub repo id"),
    (GOOD.replace("0123456789abcdef0123456789abcdef01234567", "bad..rev"), r"line 7: .*not a valid revision"),
    (GOOD.replace("0123456789abcdef0123456789abcdef01234567", "'has space'"), r"line 7: .*not a valid revision"),
    (GOOD.replace("    revision: 0123456789abcdef0123456789abcdef01234567\n", ""), r"line 5: .*no revision"),
    (GOOD.replace("sdk: gradio", "sdk: streamlit"), r"line 2: sdk must be 'gradio'"),
    (GOOD + "colour: red\n", r"line 8: unknown setting 'colour'"),
    (GOOD.replace("    repo:", "    repository:"), r"line 6: unknown key 'repository'"),
    (GOOD + "    allow_floating: please\n", r"line 8: tab 'faces': allow_floating must be true or false"),
    ("title: [unclosed\n", r"line \d+: not valid YAML"),
])
def test_malformed_manifests_name_the_line(tmp_path, text, message):
    with pytest.raises(space.ManifestError, match=message):
        space.load_manifest(write(tmp_path, text))


SHA = "0123456789abcdef0123456789abcdef01234567"


def pinned_manifest():
    """The gallery's spaces.yml with every tab pinned to a commit id (its own names ``main``)."""
    manifest = space.load_manifest()
    for tab in manifest.tabs.values():
        tab.revision = SHA
    return manifest


def test_deploy_uploads_exactly_the_listed_files(monkeypatch):
    """Only the HTTP calls are replaced: the staged folder is inspected for real."""
    import huggingface_hub

    seen = {}

    class RecordingApi:
        def create_repo(self, repo_id, **kw):
            seen["create"] = (repo_id, kw)

        def upload_folder(self, repo_id, folder_path, **kw):
            root = Path(folder_path)
            seen["files"] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
            seen["readme"] = (root / "README.md").read_text()

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.setenv("HF_TOKEN", "hf_test_not_a_real_token")
    manifest = pinned_manifest()
    listed = space.deploy("me/gan-gallery", manifest)
    assert seen["create"][0] == "me/gan-gallery" and seen["create"][1]["repo_type"] == "space"
    assert seen["files"] == sorted(listed)
    assert front_matter(seen["readme"])["sdk"] == "gradio"
    assert "hf_test_not_a_real_token" not in seen["readme"]


def test_dry_run_uploads_nothing(monkeypatch, capsys, tmp_path):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: pytest.fail("dry run must not reach the Hub"))
    pinned = write(tmp_path, (ROOT / "spaces.yml").read_text().replace("revision: main", f"revision: {SHA}"))
    space.main(["--manifest", str(pinned), "deploy", "--space", "me/gan-gallery", "--dry-run"])
    printed = capsys.readouterr().out
    assert "sdk_version:" in printed and "files to upload" in printed and "app.py" in printed


def test_bad_manifest_exits_with_the_message(tmp_path):
    path = write(tmp_path, GOOD.replace("  faces:", "  nope:"))
    with pytest.raises(SystemExit, match="line 5: unknown tab 'nope'"):
        space.main(["--manifest", str(path), "render"])


def test_deploy_refuses_a_floating_revision_unless_the_tab_allows_it(tmp_path, monkeypatch, capsys):
    """A Space that follows a branch shows other weights (or none) after a restart: deploy refuses it up front,
    dry run or not, and names the line and both ways on; ``allow_floating: true`` on the tab is the opt-in."""
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: pytest.fail("a refused deploy must not reach the Hub"))
    monkeypatch.setenv("HF_TOKEN", "hf_test_not_a_real_token")
    floating = GOOD.replace(SHA, "main")
    for dry_run in (True, False):
        with pytest.raises(space.ManifestError, match=r"line 5: tab 'faces' follows me/faces@main.*"
                                                      r"gan_models.hub.publish.*allow_floating: true"):
            space.deploy("me/gan-gallery", space.load_manifest(write(tmp_path, floating)), dry_run=dry_run)
    with pytest.raises(SystemExit, match="tab 'faces' follows gan-gallery/dcgan-celeba-64@main"):
        space.main(["deploy", "--space", "me/gan-gallery", "--dry-run"])  # the gallery's own file: all on main
    allowed = space.load_manifest(write(tmp_path, floating + "    allow_floating: true\n"))
    assert allowed.tabs["faces"].allow_floating
    assert "README.md" in space.deploy("me/gan-gallery", allowed, dry_run=True)
    assert "follows me/faces@main on purpose" in capsys.readouterr().err
    space.deploy("me/gan-gallery", space.load_manifest(write(tmp_path, GOOD)), dry_run=True)  # pinned: no note
    assert "follows" not in capsys.readouterr().err
