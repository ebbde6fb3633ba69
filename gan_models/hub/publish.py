"""Publish a pipeline folder to the Hub: ``python -m gan_models.hub.publish FOLDER REPO_ID --demo faces``.

    python -m gan_models.hub.publish runs/faces/pipeline me/dcgan-faces --demo faces
    python -m gan_models.hub.publish runs/faces/pipeline me/dcgan-faces --demo faces --revision v2 --private --dry-run

The folder must be a diffusers pipeline folder that loads with the demo's own pipeline
(strict); a folder in the gallery's earlier layout is refused with the command that converts
it. What is uploaded: the JSON, safetensors, Markdown, PNG and tokenizer text files, and the
pipeline's own module file (``<module>.py``, at the top and in each component folder, for
diffusers' ``trust_remote_code``); nothing else. The discriminator and ``training_state.json``
go too, so that others can continue the training. The token comes from HF_TOKEN or
`hf auth login`; it is never printed or written anywhere by us.

After the upload, the commit id the Hub returns is the revision to pin: when the demo's tab in
spaces.yml (``--manifest``) names this repo, its ``revision`` is set to that commit id; otherwise
the lines to paste are printed. ``--no-pin`` leaves spaces.yml alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.checks import WeightsError
from ..registry import DEMOS

DATA_PATTERNS = ["*.json", "*.safetensors", "*.md", "*.png", "*.txt"]


def files_to_upload(folder: Path, remote_module: str) -> list[str]:
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    keep = {n for n in names if Path(n).name == f"{remote_module}.py" or
            any(Path(n).match(pattern) for pattern in DATA_PATTERNS)}
    return sorted(n for n in keep if not n.startswith("."))


def publish(folder: str | Path, repo_id: str, demo_name: str, revision: str | None = None, private: bool = False,
            dry_run: bool = False, manifest: str | Path | None = None, pin: bool = True) -> list[str]:
    from .space import MANIFEST, REPO_ID, REVISION

    folder = Path(folder)
    if demo_name not in DEMOS:
        raise SystemExit(f"error: unknown demo {demo_name!r} (known: {', '.join(DEMOS)})")
    if not REPO_ID.match(repo_id):
        raise SystemExit(f"error: {repo_id!r} is not a repo id (user/name)")
    if revision is not None and not REVISION.match(revision):
        raise SystemExit(f"error: {revision!r} is not a valid branch name")
    from ..core.pipelines import is_legacy_folder

    pipeline_cls = DEMOS[demo_name].pipeline
    if is_legacy_folder(folder):
        raise SystemExit(f"error: {folder} is in the gallery's earlier layout (config.json + model.safetensors): "
                         f"convert it first: python -m gan_models.hub.convert {folder} OUT --demo {demo_name}")
    try:
        pipeline_cls.from_pretrained(folder)  # refuse what the app could not load
    except WeightsError as err:
        raise SystemExit(f"error: {err}") from None
    files = files_to_upload(folder, pipeline_cls.remote_module)
    if "README.md" not in files:
        print("note: no README.md (model card) in the folder; the training scripts write one", file=sys.stderr)
    if dry_run:
        print(f"would upload to {repo_id}{'@' + revision if revision else ''}: {', '.join(files)}")
        return files
    from huggingface_hub import HfApi, get_token

    if not get_token():
        raise SystemExit("error: publishing needs a Hugging Face token: run `hf auth login` or set HF_TOKEN")
    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    if revision:
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=revision,
                               allow_patterns=files, commit_message=f"Upload {demo_name} pipeline")
    print(f"published https://huggingface.co/{repo_id}" + (f"/tree/{revision}" if revision else ""))
    report_commit(demo_name, repo_id, getattr(commit, "oid", None), manifest or MANIFEST, pin)
    return files


def report_commit(demo_name: str, repo_id: str, commit: str | None, manifest: str | Path | None, pin: bool) -> None:
    """Pin the pushed commit in spaces.yml (when its tab for the demo names this repo), else print the lines to paste."""
    from .space import is_commit_id, pin_lines, pin_revision

    if not is_commit_id(commit):
        print(f"note: the Hub returned no commit id; pin the repo's current commit in spaces.yml by hand "
              f"(https://huggingface.co/{repo_id}/commits)", file=sys.stderr)
        return
    if pin and manifest is not None and pin_revision(demo_name, repo_id, commit, manifest):
        print(f"pinned: {manifest} now feeds the {demo_name!r} tab from {repo_id} at commit {commit}")
        return
    print(f"commit {commit}: to feed the Space's {demo_name!r} tab from it, put in spaces.yml under tabs:\n"
          f"{pin_lines(demo_name, repo_id, commit)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a diffusers pipeline folder (model_index.json, generator/, ...), as saved")
    parser.add_argument("repo_id", help="user/name of the model repo (created if needed)")
    parser.add_argument("--demo", required=True, choices=sorted(DEMOS), help="which demo's model this is")
    parser.add_argument("--revision", default=None, help="branch to upload to (created if needed)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="check the folder and list the files; upload nothing")
    parser.add_argument("--manifest", default=None,
                        help="the spaces.yml whose tab for --demo gets the pushed commit id (default: the gallery's)")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="leave spaces.yml alone; only print the lines that would pin the pushed commit")
    args = parser.parse_args(argv)
    publish(args.folder, args.repo_id, args.demo, args.revision, args.private, args.dry_run, args.manifest, args.pin)


if __name__ == "__main__":
    main()
