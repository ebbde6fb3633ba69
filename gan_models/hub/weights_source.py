"""Where each demo's weights come from, in order, and the fallback that never crashes the app.

1. a folder or Hub repo id (with revision) given explicitly (command line, API);
2. with the Hub switched on (``GAN_GALLERY_HUB=1``, or inside a Space), the repo and
   revision that spaces.yml names for the demo;
3. the embedded default weights shipped in gan_models/weights/<demo>/ (a demo whose weights are not trained yet,
   ``Demo.weights_pending``, says so when its folder is missing).

When 1 or 2 fails (Hub unreachable, repo missing, bad file) the demo falls back to the
embedded weights and says so, in the log and in the returned ``origin`` note.

Inside a Space (``SPACE_ID`` is set), 2 must name a commit id: a tab whose spaces.yml revision
is a branch or tag (which can move under a running Space) is refused, with the reason, unless
the tab says ``allow_floating: true`` or ``GAN_GALLERY_ALLOW_FLOATING=1`` is set. A deployed
Space ships no embedded weights for the tabs that read the Hub, so such a tab does not start:
its error names the floating revision and the two ways on.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..core.checks import WeightsError
from ..registry import Demo

log = logging.getLogger("gan_gallery")
SPACES_FILE = Path(__file__).resolve().parents[2] / "spaces.yml"


@dataclass
class Loaded:
    pipeline: object
    origin: str          # "embedded default weights (gan_models/weights/faces)" or "Hub repo user/x@rev"
    fallback: str | None = None  # why a configured source was not used


def hub_enabled() -> bool:
    flag = os.environ.get("GAN_GALLERY_HUB", "").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False
    return flag in ("1", "true", "yes", "on") or bool(os.environ.get("SPACE_ID"))


class Configured(NamedTuple):
    """What spaces.yml says about one tab."""

    repo: str
    revision: str | None
    allow_floating: bool = False


def hub_source(demo: Demo, spaces_file: str | Path = SPACES_FILE) -> Configured | None:
    """(repo id, revision, allow_floating) that spaces.yml names for ``demo``, or None."""
    import yaml

    spaces_file = Path(spaces_file)
    if not spaces_file.is_file():
        return None
    config = yaml.safe_load(spaces_file.read_text()) or {}
    tab = (config.get("tabs") or {}).get(demo.name) or {}
    if not tab.get("repo"):
        return None
    revision = tab.get("revision")
    return Configured(tab["repo"], None if revision is None else str(revision), tab.get("allow_floating") is True)


def floating_refusal(demo: Demo, configured: Configured) -> str | None:
    """Why a Space must not load this spaces.yml entry (a revision that can move), or None if it may."""
    from .space import ALLOW_FLOATING_ENV, floating_message, is_commit_id

    if not os.environ.get("SPACE_ID") or configured.allow_floating or is_commit_id(configured.revision):
        return None
    if os.environ.get(ALLOW_FLOATING_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    return (f"spaces.yml: {floating_message(demo.name, configured.repo, configured.revision or 'main')} "
            f"(or set {ALLOW_FLOATING_ENV}=1 in the Space's settings)")


def load_demo(demo: Demo, source: str | None = None, revision: str | None = None,
              use_hub: bool | None = None, spaces_file: str | Path = SPACES_FILE) -> Loaded:
    """Load ``demo``'s pipeline from the first source that works (see module docstring)."""
    use_hub = hub_enabled() if use_hub is None else use_hub
    tried = []
    if source is None and use_hub:
        configured = hub_source(demo, spaces_file)
        refusal = floating_refusal(demo, configured) if configured else None
        if refusal:
            tried.append(refusal)
            log.warning("%s: %s", demo.name, refusal)
        elif configured:
            source, revision = configured.repo, configured.revision
    if source is not None:
        where = f"{source}@{revision}" if revision else str(source)
        try:
            pipe = demo.pipeline.from_pretrained(source, revision=revision)
            kind = "folder" if Path(source).is_dir() else "Hub repo"
            return Loaded(pipe, f"{kind} {where}")
        except WeightsError as err:
            tried.append(str(err))
            log.warning("%s: %s; falling back to the embedded default weights", demo.name, err)
    if demo.not_installed:  # weights not trained yet: say so, rather than "weights folder not found"
        why = f"its weights are not installed yet: {demo.not_installed}"
        raise WeightsError(f"{'; '.join(tried)}; and {why}" if tried else why)
    try:
        pipe = demo.pipeline.from_pretrained(demo.embedded)  # raises WeightsError naming the file
    except WeightsError as err:
        if not tried:
            raise
        # a deployed Space has no embedded weights for its Hub tabs: the first reason is the one to show
        raise WeightsError(f"{'; '.join(tried)}; and no embedded weights to fall back on ({err})") from err
    root = Path(__file__).resolve().parents[2]
    shown = demo.embedded.relative_to(root) if demo.embedded.is_relative_to(root) else demo.embedded
    origin = f"embedded default weights ({shown})"
    return Loaded(pipe, origin, fallback="; ".join(tried) or None)
