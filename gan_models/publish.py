"""Publish weights trained elsewhere to the Hub: ``python -m gan_models.publish FOLDER REPO_ID --demo faces``.

    python -m gan_models.publish runs/faces/generator me/dcgan-faces --demo faces
    python -m gan_models.publish runs/faces/generator me/dcgan-faces --demo faces --revision v2 --private --dry-run

The folder must load with the demo's own pipeline (config.json + model.safetensors,
strict); only *.json, *.safetensors, *.md and *.png files are uploaded. The token comes
from HF_TOKEN or `hf auth login`; it is never printed or written anywhere by us.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .layers import WeightsError
from .registry import DEMOS

UPLOAD_PATTERNS = ["*.json", "*.safetensors", "*.md", "*.png"]


def files_to_upload(folder: Path) -> list[str]:
    return sorted({p.name for pattern in UPLOAD_PATTERNS for p in folder.glob(pattern) if p.is_file()})


def publish(folder: str | Path, repo_id: str, demo_name: str, revision: str | None = None, private: bool = False,
            dry_run: bool = False) -> list[str]:
    from .space import REPO_ID, REVISION

    folder = Path(folder)
    if demo_name not in DEMOS:
        raise SystemExit(f"error: unknown demo {demo_name!r} (known: {', '.join(DEMOS)})")
    if not REPO_ID.match(repo_id):
        raise SystemExit(f"error: {repo_id!r} is not a repo id (user/name)")
    if revision is not None and not REVISION.match(revision):
        raise SystemExit(f"error: {revision!r} is not a valid branch name")
    try:
        DEMOS[demo_name].pipeline.from_pretrained(folder)  # refuse what the app could not load
    except WeightsError as err:
        raise SystemExit(f"error: {err}") from None
    files = files_to_upload(folder)
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
    api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=revision, allow_patterns=UPLOAD_PATTERNS,
                      commit_message=f"Upload {demo_name} weights")
    print(f"published https://huggingface.co/{repo_id}" + (f"/tree/{revision}" if revision else ""))
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a Hub-format folder: config.json + model.safetensors (+ README.md)")
    parser.add_argument("repo_id", help="user/name of the model repo (created if needed)")
    parser.add_argument("--demo", required=True, choices=sorted(DEMOS), help="which demo's model this is")
    parser.add_argument("--revision", default=None, help="branch to upload to (created if needed)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="check the folder and list the files; upload nothing")
    args = parser.parse_args(argv)
    publish(args.folder, args.repo_id, args.demo, args.revision, args.private, args.dry_run)


if __name__ == "__main__":
    main()
