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

Joining drops the imports between the modules, so a module left out of ``remote_modules`` would not
fail at the join but in a Hub user's hands, as a NameError, the first time a function that reads its
names runs. ``joined_source`` refuses that: every relative import must name a module joined before
it, and the joined text must read no name it never defines (a scan of its symbol table).
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import re
import shutil
import symtable
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


def relative_imports(module: str, text: str) -> list[tuple[str, int]]:
    """The modules (absolute dotted names) that ``module``'s top-level relative imports read, with their lines."""
    package = module.rpartition(".")[0]
    found = []
    for node in ast.parse(text, filename=module).body:
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.module is None:  # "from . import x" binds a module object, which a joined file has not
                raise RemoteCodeError(f"{module}, line {node.lineno}: 'from {'.' * node.level} import ...' cannot be "
                                      "joined: import the names from their module")
            found.append((importlib.util.resolve_name("." * node.level + node.module, package), node.lineno))
    return found


# names a module reads without defining them that Python supplies to every module
_MODULE_NAMES = {"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__"}


def undefined_names(text: str, filename: str = "<module file>") -> dict[str, list[str]]:
    """The names ``text`` reads but never defines at its top level (nor Python's builtins hold), each with the
    scopes that read it (``"<module>.photo_to_rgb"``): what would raise NameError when that code runs.

    Read from the symbol table, nothing is run. Under ``from __future__ import annotations`` (every module
    file's first line) annotations are never evaluated, so they are not counted.
    """
    top = symtable.symtable(text, filename, "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    tables, missing = [(top, "<module>")], {}
    while tables:  # every scope: the module, its functions and classes, their comprehensions and lambdas
        table, where = tables.pop()
        for child in table.get_children():
            tables.append((child, f"{where}.{child.get_name()}"))
            # a function's "global x" + "x = ..." defines x at the top level too
            defined |= {s.get_name() for s in child.get_symbols() if s.is_declared_global() and s.is_assigned()}
        for s in table.get_symbols():
            if s.is_referenced() and s.is_global():  # at the top level every name is global
                missing.setdefault(s.get_name(), []).append(where)
    return {name: sorted(set(where)) for name, where in sorted(missing.items())
            if name not in defined and name not in _MODULE_NAMES and not hasattr(builtins, name)}


def joined_source(name: str, modules: tuple[str, ...] | list[str]) -> str:
    """The stand-alone module file ``name``.py made of ``modules`` (dotted names), in order.

    RemoteCodeError when a module imports from one that is not joined before it, or when the joined file
    reads a name it never defines.
    """
    parts = [f'"""GAN Gallery: the {name} pipeline and its networks, as one module file for diffusers\' '
             f'trust_remote_code.\n\nMade from the package modules {", ".join(modules)}\n(joined by '
             f'gan_models/core/remote_code.py; edit those, not this file)."""\n',
             "from __future__ import annotations\n", f"{MARKER} = {name!r}\n"]
    for i, module in enumerate(modules):
        _, text = _source(module)
        for source, line in relative_imports(module, text):
            if source not in modules[:i]:
                raise RemoteCodeError(f"{module}, line {line}, imports from {source}, which the {name} module file "
                                      f"does not hold before it: add {source} to remote_modules, ahead of {module}")
        parts.append(f"\n# {'-' * 60} from {module}\n" + strip_module(module, text))
    joined = "\n".join(parts).rstrip() + "\n"
    missing = undefined_names(joined, f"{name}.py")
    if missing:
        raise RemoteCodeError(f"the {name} module file would read names it never defines: "
                              + "; ".join(f"{n} (in {', '.join(w)})" for n, w in missing.items()))
    return joined


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
