"""The module file a saved pipeline folder carries, so that plain diffusers can load it.

diffusers' convention for a custom pipeline on the Hub: ``model_index.json`` names
``["<module>", "<Class>"]`` for the pipeline and for each custom component, and ``<module>.py``
sits at the top of the folder and in each such component's subfolder; then
``DiffusionPipeline.from_pretrained(repo, trust_remote_code=True)`` imports it. diffusers copies
a module file with the files it imports relatively *from the same folder* only, and a Hub user
does not have the gallery installed, so the file must stand alone: it is the demo's package
modules (the shared core, the architecture, the pipeline) joined into one, with the imports
between them dropped. The package stays laid out by demo; the file is made from it at save
time (and a test loads it in a fresh process with nothing of the project importable).
A module joined this way uses only single-line or parenthesised top-level relative imports of
names the earlier modules define, and no absolute import of the package.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

MARKER = "GAN_GALLERY_REMOTE_MODULE"  # a module-level name that tells a joined file from a package module
_RELATIVE = re.compile(r"^from\s+\.+[\w.]*\s+import\b")


class RemoteCodeError(RuntimeError):
    """A package module that cannot be joined into a stand-alone module file."""


def _source(module: str) -> tuple[Path, str]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RemoteCodeError(f"module {module} not found")
    path = Path(spec.origin)
    return path, path.read_text()


def strip_module(module: str, text: str) -> str:
    """One module's text without ``from __future__`` and its top-level relative imports."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("from __future__ import"):
            i += 1
            continue
        if _RELATIVE.match(line):
            while "(" in line and ")" not in lines[i]:  # a parenthesised import runs to its closing bracket
                i += 1
            i += 1
            continue
        stripped = line.lstrip()
        if stripped != line and _RELATIVE.match(stripped):
            raise RemoteCodeError(f"{module}: a relative import inside a function cannot be joined: {stripped!r}")
        if re.match(r"^\s*(from|import)\s+gan_models\b", line):
            raise RemoteCodeError(f"{module}: an absolute import of the package cannot be joined: {line.strip()!r}")
        out.append(line)
        i += 1
    return "\n".join(out)


def joined_source(name: str, modules: tuple[str, ...] | list[str]) -> str:
    """The stand-alone module file ``name``.py made of ``modules`` (dotted names), in order."""
    parts = [f'"""GAN Gallery: the {name} pipeline and its networks, as one module file for diffusers\' '
             f'trust_remote_code.\n\nMade from the package modules {", ".join(modules)}\n(joined by '
             f'gan_models/core/remote_code.py; edit those, not this file)."""\n',
             "from __future__ import annotations\n", f"{MARKER} = {name!r}\n"]
    for module in modules:
        _, text = _source(module)
        parts.append(f"\n# {'-' * 60} from {module}\n" + strip_module(module, text))
    return "\n".join(parts).rstrip() + "\n"


def write_remote_code(pipeline_cls: type, folders: list[Path]) -> str:
    """Write ``<remote_module>.py`` into each of ``folders``; returns the file's name.

    A pipeline class that was itself loaded from such a file (a Hub user saving again) copies that file.
    """
    name = pipeline_cls.remote_module
    if not name:
        raise RemoteCodeError(f"{pipeline_cls.__name__} names no remote_module")
    loaded_from = sys.modules.get(pipeline_cls.__module__)
    if loaded_from is not None and getattr(loaded_from, MARKER, None) == name:
        text = Path(loaded_from.__file__).read_text()
    else:
        text = joined_source(name, pipeline_cls.remote_modules)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.py").write_text(text)
    return f"{name}.py"


def copy_remote_code(source: Path, target: Path) -> None:
    """Copy every ``*.py`` module file of a saved folder (top and components) to another folder."""
    for path in source.rglob("*.py"):
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
