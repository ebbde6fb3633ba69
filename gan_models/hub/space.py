"""Deploy the gallery as a Hugging Face Space, from spaces.yml.

    python -m gan_models.space render                      # the Space's README.md front matter
    python -m gan_models.space deploy --space user/gan-gallery --dry-run
    python -m gan_models.space deploy --space user/gan-gallery

spaces.yml is the single place that says which Hub repo and pinned revision feed each
tab, plus the Space's title, emoji, sdk and hardware hint. The Space's README front
matter is rendered from it (``sdk_version`` pinned to the gradio in requirements.txt,
``models:`` and ``preload_from_hub:`` so the weights download at build time), and
exactly the files the app needs are uploaded: code, requirements, spaces.yml; not the
tests, not data, and not the embedded weights when every tab reads the Hub.

A revision is pinned when it is a commit id (40 hex digits): a branch or tag can move, and a
Space that follows one shows other weights after its next restart, or none. ``deploy``
refuses a tab whose revision floats unless that tab says ``allow_floating: true``, and the
Space itself refuses to load it (weights_source.py). ``python -m gan_models.hub.publish``
writes the commit id the Hub returns into the tab that names the repo it pushed to
(``pin_revision`` below).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..registry import DEMOS

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "spaces.yml"
TOP_KEYS = {"title", "emoji", "colorFrom", "colorTo", "sdk", "app_file", "python_version", "hardware", "license",
            "short_description", "tabs"}
TAB_KEYS = {"repo", "revision", "allow_floating"}
COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
HARDWARE = {"cpu-basic", "cpu-upgrade", "t4-small", "t4-medium", "l4x1", "l4x4", "a10g-small", "a10g-large",
            "a10g-largex2", "a10g-largex4", "a100-large"}
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
REVISION = re.compile(r"^(?![./-])(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9._/-]{1,200}(?<![./])$")
COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")
ALLOW_FLOATING_ENV = "GAN_GALLERY_ALLOW_FLOATING"  # =1: a Space loads floating revisions too (spaces.yml unchanged)
CODE = ["app.py", "tabs/*.py", "gan_models/**/*.py", "spaces.yml"]  # (not the weights folders' module files)


class ManifestError(ValueError):
    """spaces.yml is malformed; the message names the file and line."""


@dataclass
class Tab:
    repo: str
    revision: str
    line: int
    allow_floating: bool = False  # follow a branch or tag on purpose (a Space refuses one otherwise)


@dataclass
class Manifest:
    title: str
    emoji: str
    sdk: str
    app_file: str
    python_version: str
    hardware: str
    license: str
    tabs: dict[str, Tab] = field(default_factory=dict)
    color_from: str = "indigo"
    color_to: str = "pink"
    short_description: str | None = None


def is_commit_id(revision) -> bool:
    """A revision that cannot move: a full commit id. Branches and tags (``main``, ``v2``) can."""
    return isinstance(revision, str) and bool(COMMIT_ID.match(revision))


def floating_message(name: str, repo: str, revision: str) -> str:
    """Why a tab that follows a branch or tag is refused, and the two ways on."""
    return (f"tab {name!r} follows {repo}@{revision}, a branch or tag that can move: a Space pins a commit id "
            f"(`python -m gan_models.hub.publish FOLDER {repo} --demo {name}` writes the one it pushes into "
            f"spaces.yml), or add `allow_floating: true` to the tab to follow {revision!r} on purpose")


def _mapping_lines(node) -> dict[str, tuple[int, object]]:
    """{key: (1-based line, value node)} of a YAML mapping node."""
    return {k.value: (k.start_mark.line + 1, v) for k, v in node.value}


def load_manifest(path: str | Path = MANIFEST) -> Manifest:
    path = Path(path)
    text = path.read_text()

    def fail(line, message):
        raise ManifestError(f"{path.name} line {line}: {message}")

    try:
        root = yaml.compose(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ManifestError(f"{path.name} line {mark.line + 1 if mark else '?'}: not valid YAML ({err})") from None
    if not isinstance(root, yaml.MappingNode):
        fail(1, "expected a mapping of settings")
    top = _mapping_lines(root)
    for key, (line, _) in top.items():
        if key not in TOP_KEYS:
            fail(line, f"unknown setting {key!r} (known: {', '.join(sorted(TOP_KEYS))})")
    data = yaml.safe_load(text)
    for key in ("title", "sdk", "app_file", "tabs"):
        if key not in data:
            fail(1, f"missing required setting {key!r}")
    if data["sdk"] != "gradio":
        fail(top["sdk"][0], f"sdk must be 'gradio', got {data['sdk']!r}")
    if not (ROOT / str(data["app_file"])).is_file() and path.resolve() == MANIFEST:
        fail(top["app_file"][0], f"app_file {data['app_file']!r} does not exist")
    if data.get("hardware", "cpu-basic") not in HARDWARE:
        fail(top["hardware"][0], f"unknown hardware {data['hardware']!r} (known: {', '.join(sorted(HARDWARE))})")
    for key, default in (("colorFrom", "indigo"), ("colorTo", "pink")):
        if data.get(key, default) not in COLORS:
            fail(top[key][0], f"{key} must be one of {', '.join(sorted(COLORS))}")
    tabs_line, tabs_node = top["tabs"]
    if not isinstance(tabs_node, yaml.MappingNode) or not tabs_node.value:
        fail(tabs_line, "tabs must map each demo to its repo and revision")
    tabs = {}
    for name, (line, node) in _mapping_lines(tabs_node).items():
        if name not in DEMOS:
            fail(line, f"unknown tab {name!r}: the gallery's demos are {', '.join(DEMOS)}")
        if not isinstance(node, yaml.MappingNode):
            fail(line, f"tab {name!r} needs 'repo' and 'revision'")
        fields = _mapping_lines(node)
        for key, (kline, _) in fields.items():
            if key not in TAB_KEYS:
                fail(kline, f"unknown key {key!r} in tab {name!r} (use repo, revision)")
        entry = data["tabs"][name]
        repo, revision = entry.get("repo"), entry.get("revision")
        if not repo:
            fail(line, f"tab {name!r} has no repo id")
        if not isinstance(repo, str) or not REPO_ID.match(repo):
            fail(fields["repo"][0], f"tab {name!r}: {repo!r} is not a Hub repo id (user/name)")
        if revision is None:
            fail(line, f"tab {name!r} has no revision: pin a branch, tag or commit")
        revision = str(revision)
        if not REVISION.match(revision):
            fail(fields["revision"][0], f"tab {name!r}: {revision!r} is not a valid revision (branch, tag or commit)")
        allow_floating = entry.get("allow_floating", False)
        if not isinstance(allow_floating, bool):
            fail(fields["allow_floating"][0], f"tab {name!r}: allow_floating must be true or false")
        tabs[name] = Tab(repo, revision, line, allow_floating)
    return Manifest(title=str(data["title"]), emoji=str(data.get("emoji", "🎨")), sdk=data["sdk"],
                    app_file=str(data["app_file"]), python_version=str(data.get("python_version", "3.11")),
                    hardware=data.get("hardware", "cpu-basic"), license=str(data.get("license", "other")),
                    tabs=tabs, color_from=data.get("colorFrom", "indigo"), color_to=data.get("colorTo", "pink"),
                    short_description=data.get("short_description"))


def pinned_gradio_version(requirements: Path = ROOT / "requirements.txt") -> str:
    for line in requirements.read_text().splitlines():
        m = re.match(r"^\s*gradio\s*==\s*([\w.]+)", line)
        if m:
            return m.group(1)
    raise ManifestError(f"{requirements.name} does not pin gradio (gradio==X.Y.Z); the Space needs sdk_version")


def render_front_matter(manifest: Manifest) -> dict:
    front = {
        "title": manifest.title, "emoji": manifest.emoji, "colorFrom": manifest.color_from,
        "colorTo": manifest.color_to, "sdk": manifest.sdk, "sdk_version": pinned_gradio_version(),
        "python_version": manifest.python_version, "app_file": manifest.app_file, "pinned": False,
        "license": manifest.license, "suggested_hardware": manifest.hardware,
        "models": [tab.repo for tab in manifest.tabs.values()],
        # "repo files revision": fetched into the Space's cache at build time, so no request waits on the Hub
        "preload_from_hub": [f"{tab.repo} {','.join(DEMOS[name].pipeline.hub_files)} {tab.revision}"
                             for name, tab in manifest.tabs.items()],
    }
    if manifest.short_description:
        front["short_description"] = manifest.short_description
    return front


def render_readme(manifest: Manifest) -> str:
    front = yaml.safe_dump(render_front_matter(manifest), sort_keys=False, allow_unicode=True)
    rows = "\n".join(f"| {DEMOS[name].title} | [{tab.repo}](https://huggingface.co/{tab.repo}) | `{tab.revision}` |"
                     for name, tab in manifest.tabs.items())
    return (f"---\n{front}---\n\n# {manifest.title}\n\nGenerative adversarial networks you can play with. "
            f"Each tab loads its weights from the Hub repo and revision below (set in `spaces.yml`).\n\n"
            f"| tab | weights | revision |\n|---|---|---|\n{rows}\n")


def space_files(manifest: Manifest, root: Path = ROOT) -> list[str]:
    """Paths (relative to the repo) the Space needs, and nothing else."""
    files = sorted({str(p.relative_to(root)) for pattern in CODE for p in root.glob(pattern)
                    if not p.relative_to(root).as_posix().startswith("gan_models/weights/")})
    files.append("requirements.txt")
    missing = [name for name in DEMOS if name not in manifest.tabs]
    for name in missing:  # a tab without a Hub repo needs its embedded weights
        files += sorted(str(p.relative_to(root)) for p in (root / "gan_models" / "weights" / name).rglob("*")
                        if p.suffix in (".json", ".safetensors"))
    return files


def deploy(space: str, manifest: Manifest, dry_run: bool = False, private: bool = False) -> list[str]:
    if not REPO_ID.match(space):
        raise ManifestError(f"--space {space!r} is not a repo id (user/name)")
    floating = [(name, tab) for name, tab in manifest.tabs.items() if not is_commit_id(tab.revision)]
    refused = [f"spaces.yml line {tab.line}: {floating_message(name, tab.repo, tab.revision)}"
               for name, tab in floating if not tab.allow_floating]
    if refused:  # the Space would refuse these tabs at start-up: say so now, before anything is uploaded
        raise ManifestError("a Space loads pinned revisions only:\n  " + "\n  ".join(refused))
    for name, tab in floating:
        print(f"note: tab {name!r} follows {tab.repo}@{tab.revision} on purpose (allow_floating: true): the Space "
              "shows whatever that branch or tag holds when it starts", file=sys.stderr)
    files = space_files(manifest)
    readme = render_readme(manifest)
    if dry_run:
        print(readme)
        print("files to upload:\n  README.md (rendered above)\n  " + "\n  ".join(files))
        return ["README.md", *files]
    from huggingface_hub import HfApi, get_token

    if not get_token():
        raise SystemExit("error: deploying needs a Hugging Face token: run `hf auth login` or set HF_TOKEN")
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        for rel in files:
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, stage / rel)
        (stage / "README.md").write_text(readme)
        api = HfApi()
        api.create_repo(space, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.upload_folder(repo_id=space, repo_type="space", folder_path=str(stage),
                          commit_message="Deploy GAN Gallery", delete_patterns=["*.py", "tabs/*", "gan_models/*"])
    print(f"deployed to https://huggingface.co/spaces/{space}")
    return ["README.md", *files]


def pin_revision(demo: str, repo_id: str, commit: str, manifest: str | Path = MANIFEST) -> bool:
    """Write ``commit`` as the revision of ``demo``'s tab in spaces.yml if that tab names ``repo_id``; True if written.

    Only the revision's value changes (comments, order and the other tabs stay as they are), and the file is
    replaced whole or not at all. Anything else (another repo, no such tab, no file) is left alone: the caller
    prints the lines to paste instead (``pin_lines``).
    """
    if not is_commit_id(commit):
        raise ValueError(f"{commit!r} is not a commit id")
    path = Path(manifest)
    if not path.is_file():
        return False
    text = path.read_text()
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return False
    for key in ("tabs", demo):
        node = _mapping_lines(node).get(key, (0, None))[1] if isinstance(node, yaml.MappingNode) else None
    fields = _mapping_lines(node) if isinstance(node, yaml.MappingNode) else {}
    repo, revision = fields.get("repo", (0, None))[1], fields.get("revision", (0, None))[1]
    if not isinstance(repo, yaml.ScalarNode) or repo.value != repo_id or not isinstance(revision, yaml.ScalarNode):
        return False
    start, end = revision.start_mark.index, revision.end_mark.index
    # quoted: a commit id of digits only would otherwise read back as a number
    new = f'{text[:start]}"{commit}"{text[end:]}'
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new)
    tmp.replace(path)
    return True


def pin_lines(demo: str, repo_id: str, commit: str) -> str:
    """The tab of spaces.yml that pins ``repo_id`` at ``commit``, to paste."""
    return f"  {demo}:\n    repo: {repo_id}\n    revision: \"{commit}\""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("render", help="print the Space README rendered from spaces.yml")
    dep = sub.add_parser("deploy", help="upload the app to a Space")
    dep.add_argument("--space", required=True, help="user/name of the Space")
    dep.add_argument("--dry-run", action="store_true", help="print the front matter and the file list; upload nothing")
    dep.add_argument("--private", action="store_true")
    parser.add_argument("--manifest", default=str(MANIFEST))
    args = parser.parse_args(argv)
    try:
        manifest = load_manifest(args.manifest)
        if args.command == "render":
            print(render_readme(manifest))
        else:
            deploy(args.space, manifest, args.dry_run, args.private)
    except ManifestError as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
