"""GAN Gallery: the superres_gan pipeline and its networks, as one module file for diffusers' trust_remote_code.

Made from the package modules gan_models.core.remote_code, gan_models.core.checks, gan_models.core.modeling, gan_models.core.pipelines, gan_models.core.images, gan_models.superres.srgan, gan_models.superres.pipeline
(joined by gan_models/core/remote_code.py; edit those, not this file)."""

from __future__ import annotations

GAN_GALLERY_REMOTE_MODULE = 'superres_gan'


# ------------------------------------------------------------ from gan_models.core.remote_code
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

# ------------------------------------------------------------ from gan_models.core.checks
"""The two errors the gallery shows its users, and checks of what a user gives a pipeline or a tab, with messages
fit to show them. Plain Python: no torch, no diffusers (the app imports this before any model)."""


import math
import numbers

MAX_SEED = 2**32 - 1


class WeightsError(RuntimeError):
    """Weights that are missing, corrupt, or do not fit the model's config."""


class InputError(ValueError):
    """A user's input the pipeline cannot take, with a message fit to show them."""


def _number(value, name: str) -> float:
    if isinstance(value, bool) or value is None or isinstance(value, (list, tuple, dict)):
        raise InputError(f"{name} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InputError(f"{name} must be a number, got {value[:40]!r}") from None
    if not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond any float (10**400)
        raise InputError(f"{name} is far too large: {str(value)[:12]}… ({len(str(value))} digits)") from None
    if not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value}")
    return value


def check_int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)  # exact, however large (a float would round 2**53 + 1, or overflow)
    else:
        number = _number(value, name)
        if number != int(number):
            raise InputError(f"{name} must be a whole number, got {number}")
        number = int(number)
    if not low <= number <= high:
        shown = str(number) if len(str(number)) <= 24 else f"{str(number)[:12]}… ({len(str(number))} digits)"
        raise InputError(f"{name} must be between {low} and {high}, got {shown}")
    return number


def check_float(value, name: str, low: float, high: float) -> float:
    number = _number(value, name)
    if not low <= number <= high:
        raise InputError(f"{name} must be between {low} and {high}, got {number}")
    return number


def check_seed(value, name: str = "seed") -> int:
    return check_int(value, name, 0, MAX_SEED)


def seeds_from(seed, num_images: int) -> list[int]:
    """``num_images`` consecutive seeds from ``seed`` (wrapping at 2**32), StyleGAN style."""
    seed = check_seed(seed)
    return [(seed + i) % (MAX_SEED + 1) for i in range(num_images)]

# ------------------------------------------------------------ from gan_models.core.modeling
"""What every network of the gallery shares: diffusers' ModelMixin + ConfigMixin, and loading that cannot be fooled.

Each generator, discriminator and judge is a ``GANModel``: a diffusers ``ModelMixin`` +
``ConfigMixin`` whose ``__init__`` is decorated with ``@register_to_config``, so its settings
go to ``config.json`` and its weights to ``diffusion_pytorch_model.safetensors``, and
diffusers' own ``from_pretrained`` / ``save_pretrained`` / ``.to(dtype)`` work on it.

The gallery itself loads with ``load_strict``: safetensors only, every setting of the config
checked by name, type and bounds before a tensor is allocated, every key and shape of the
file matched exactly, NaN and inf refused. A bad or hostile folder is a ``WeightsError``
that names the file and what is wrong, never a crash further in.
"""


import copy
import inspect
import json
import math
import os
from pathlib import Path

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config  # noqa: F401  (the models' decorator, re-exported)
from torch import nn


CONFIG_NAME = "config.json"
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"   # diffusers' name
LEGACY_WEIGHTS_NAME = "model.safetensors"               # the gallery's folders before diffusers (still read)


class GANModel(ModelMixin, ConfigMixin):
    """Base of every network: diffusers' model and config mixins, plus ``load_strict``."""

    config_name = CONFIG_NAME

    @classmethod
    def load_strict(cls, folder: str | os.PathLike, torch_dtype: torch.dtype | None = None):
        """Build from a local folder (config.json + safetensors), checked; eval mode, on the CPU."""
        folder = Path(folder)
        config_file = folder / CONFIG_NAME
        if not config_file.is_file():
            raise WeightsError(f"config file not found: {config_file}")
        try:
            config = json.loads(config_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
            raise WeightsError(f"config file {config_file} is not readable JSON: {err}") from err
        if isinstance(config, dict):  # diffusers' bookkeeping (_class_name, _diffusers_version) is not a setting
            config = {k: v for k, v in config.items() if not k.startswith("_")}
        model = build_from_config(cls, config, f"config file {config_file}")
        weights = folder / WEIGHTS_NAME
        if not weights.is_file() and (folder / LEGACY_WEIGHTS_NAME).is_file():
            weights = folder / LEGACY_WEIGHTS_NAME
        load_weights_into(model, weights)
        if torch_dtype is not None:
            model = model.to(torch_dtype)
        return model.eval()


# Bounds of the settings a config.json may give (by name): a bad or hostile file is refused before any
# tensor is allocated (base_channels -4 crashed in a conv; latent_dim 10**9 in the allocator).
CONFIG_LIMITS = {
    "latent_dim": (1, 1024), "cond_dim": (1, 1024), "text_dim": (1, 4096), "affine_hidden": (1, 1024),
    "base_channels": (1, 256), "channels": (1, 256), "head_width": (1, 1024), "image_size": (8, 512),
    "in_channels": (1, 16), "out_channels": (1, 16), "num_classes": (1, 1000), "num_downs": (1, 10),
    "num_layers": (1, 8), "max_mult": (1, 16), "projection_seed": (0, 2**32 - 1), "num_blocks": (1, 64),
    "scale": (1, 8),
}
DEFAULT_INT_LIMITS = (1, 4096)


def check_config(cls: type, config: dict, where: str) -> None:
    """Every setting of ``config`` is one ``cls`` takes, of the right type and within CONFIG_LIMITS."""
    if not isinstance(config, dict):
        raise WeightsError(f"{where} must be a JSON object of settings, got {type(config).__name__}")
    params = {k: p for k, p in inspect.signature(cls.__init__).parameters.items()
              if k != "self" and p.kind is p.POSITIONAL_OR_KEYWORD}
    for key, value in config.items():
        if key not in params:
            raise WeightsError(f"{where}: {key!r} is not a setting of {cls.__name__} (it takes {sorted(params)})")
        default = params[key].default
        bad = None
        if isinstance(default, bool):
            bad = None if isinstance(value, bool) else "true or false"
        elif isinstance(default, int):
            low, high = CONFIG_LIMITS.get(key, DEFAULT_INT_LIMITS)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                bad = f"a whole number from {low} to {high}"
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                bad = "a finite number"
        elif isinstance(default, str):
            bad = None if isinstance(value, str) and len(value) <= 200 else "text of at most 200 characters"
        elif isinstance(default, (list, tuple)):
            ok = isinstance(value, (list, tuple)) and len(value) <= 64 and all(
                (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 4096) or
                (isinstance(v, str) and len(v) <= 200) for v in value)
            bad = None if ok else "a list of at most 64 whole numbers (0-4096) or names"
        if bad:
            raise WeightsError(f"{where}: {key} must be {bad}, got {json.dumps(value)[:60]}")


def build_from_config(cls: type, config: dict, where: str):
    """``cls(**config)`` after ``check_config``; any error building it becomes a WeightsError naming ``where``."""
    check_config(cls, config, where)
    try:
        return cls(**config)
    except Exception as err:  # a combination the bounds let through (e.g. an image_size the model cannot make)
        raise WeightsError(f"{where} does not describe a buildable {cls.__name__}: {type(err).__name__}: {err}") from err


def load_weights_into(model: nn.Module, weights_file: str | os.PathLike) -> nn.Module:
    """Copy a safetensors file into ``model``; every key and shape must match exactly."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights_file = Path(weights_file)
    if not weights_file.is_file():
        raise WeightsError(f"weights file not found: {weights_file}")
    try:
        state = load_file(str(weights_file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise WeightsError(f"cannot read weights file {weights_file}: {err}") from err
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k}: file {tuple(state[k].shape)} vs config {tuple(expected[k].shape)}"
             for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' …' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' …' if len(unexpected) > 5 else ''}")
        if wrong:
            parts.append(f"wrong shape {wrong[:5]}")
        raise WeightsError(f"weights file {weights_file} does not match the model's config: " + "; ".join(parts))
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(f"weights file {weights_file} holds NaN or inf in {bad[:5]}")
    model.load_state_dict(state, strict=True)  # dtype converts on copy (fp16 file -> fp32 model)
    return model


def init_dcgan_weights(module: nn.Module) -> None:
    """Radford et al. 2016: conv weights ~ N(0, 0.02), norm scales ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


@torch.no_grad()
def fuse_batchnorm(seq: nn.Sequential) -> nn.Sequential:
    """Fold each eval-mode BatchNorm into the (transposed) convolution before it.

    Inference only: y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta is again a
    convolution, with scaled weights and a bias, so the BatchNorm pass disappears.
    """
    out = []
    for layer in seq:
        prev = out[-1] if out else None
        if isinstance(layer, nn.BatchNorm2d) and isinstance(prev, (nn.Conv2d, nn.ConvTranspose2d)):
            scale = layer.weight / torch.sqrt(layer.running_var + layer.eps)
            shift = layer.bias - layer.running_mean * scale
            fused = copy.deepcopy(prev)
            if isinstance(prev, nn.ConvTranspose2d):  # weight: in x out x k x k
                fused.weight.mul_(scale[None, :, None, None])
            else:                                     # weight: out x in x k x k
                fused.weight.mul_(scale[:, None, None, None])
            bias = prev.bias if prev.bias is not None else torch.zeros_like(scale)
            fused.bias = nn.Parameter(bias * scale + shift)
            out[-1] = fused
        else:
            out.append(layer)
    return nn.Sequential(*out)

# ------------------------------------------------------------ from gan_models.core.pipelines
"""What every demo's pipeline shares: a diffusers ``DiffusionPipeline`` that loads safely, and checked input.

A pipeline is called as in diffusers: ``pipe(4, generator=torch.Generator().manual_seed(0)).images``
(or with seeds: ``pipe(4, seed=0)``, picture i from seed + i), and returns a ``GANPipelineOutput``
(an ``ImagePipelineOutput`` that also carries the seeds, labels and notes for the user).
``output_type`` is diffusers': "pil" (PIL images), "np" (N x H x W x C floats in [0, 1]) or
"pt" (N x C x H x W floats in [0, 1]).

Loading. ``SomePipeline.from_pretrained(folder or Hub repo id, revision=..., torch_dtype=...)``
reads the diffusers layout (``model_index.json``, one subfolder per component) with the
gallery's strict loader: only JSON, safetensors, Markdown and tokenizer text files are ever
downloaded, and no code in the folder is run (the folder's module file is for diffusers users:
``DiffusionPipeline.from_pretrained(repo, trust_remote_code=True)``). Folders in the gallery's
earlier layout (config.json + model.safetensors) still load, with a note saying how to convert.

Saving. ``pipe.save_pretrained(folder, discriminator=D, training_state={...})`` writes the
diffusers layout, the module file diffusers' ``trust_remote_code`` loads (one file holding the
demo's code, see remote_code.py), and, beside the pipeline's components, the discriminator
(``discriminator/``, not a pipeline component) and ``training_state.json``: with them the
training scripts continue adversarial training from the folder (StyleGAN2-ADA's G + D + G_ema).
"""


import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from PIL import Image


log = logging.getLogger("gan_gallery")
INDEX_NAME = "model_index.json"
DISCRIMINATOR_DIR = "discriminator"
TRAINING_STATE = "training_state.json"
# the modules every pipeline's remote-code file starts with (remote_code.py joins them with the demo's own)
CORE_MODULES = ("gan_models.core.remote_code", "gan_models.core.checks", "gan_models.core.modeling",
                "gan_models.core.pipelines")
ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.md", "*.txt"]  # never a pickle, never code


@dataclass
class GANPipelineOutput(ImagePipelineOutput):
    """``images`` as diffusers gives them, plus what a GAN demo also tells its user."""

    seeds: list[int] | None = None              # image i was drawn from seeds[i] (None: from a torch.Generator)
    labels: list | None = None                  # the label or prompt of each image
    messages: list[str] = field(default_factory=list)  # notes for the user (a prompt cut short, ...)


def noise_for_seeds(seeds, shape: tuple[int, ...], truncation: float = 1.0) -> torch.Tensor:
    """One N(0, I) latent per seed, stacked: ``len(seeds) x *shape``.

    Each latent depends on its own seed only (not on the batch it is drawn in), so a seed typed
    back always gives the same picture. ``truncation`` (psi in [0, 1]) scales the latent towards
    the mean, the z-space form of the truncation trick: smaller psi, more typical and cleaner
    images, less variety; psi = 1 is untruncated.
    """
    seeds = list(seeds)
    out = torch.empty((len(seeds), *shape))
    for i, seed in enumerate(seeds):
        out[i] = torch.randn(shape, generator=torch.Generator().manual_seed(int(seed)))
    return out * truncation


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents: stays on the shell where N(0, I) samples live."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def check_output_type(output_type: str) -> str:
    if output_type not in ("pil", "np", "pt"):
        raise InputError(f"output_type must be 'pil', 'np' or 'pt', got {output_type!r}")
    return output_type


def to_output(images: torch.Tensor, output_type: str):
    """N x C x H x W in [-1, 1] -> diffusers' outputs: PIL images, N x H x W x C array or N x C x H x W tensor in [0, 1]."""
    check_output_type(output_type)
    unit = (images.detach().float() / 2 + 0.5).clamp(0, 1)
    if output_type == "pt":
        return unit
    arrays = unit.cpu().permute(0, 2, 3, 1).numpy()
    if output_type == "np":
        return arrays
    pixels = (arrays * 255).round().astype(np.uint8)
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in pixels]


# ----------------------------------------------------------------------------- folders
def resolve_folder(source: str | os.PathLike, revision: str | None = None, local_files_only: bool = False) -> Path:
    """A local folder for ``source``: a folder path, or a Hub repo id to download (data files only, never code)."""
    path = Path(source)
    if path.is_dir():
        return path
    if path.suffix or str(source).startswith((".", "/", "~")) or str(source).count("/") != 1:
        raise WeightsError(f"weights folder not found: {source}")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        return Path(snapshot_download(str(source), revision=revision, allow_patterns=ALLOW_PATTERNS,
                                      local_files_only=local_files_only))
    except (HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, OSError, ValueError) as err:
        where = f"{source}@{revision}" if revision else str(source)
        raise WeightsError(f"cannot get weights from the Hub repo {where}: {type(err).__name__}: {err}") from err


def is_legacy_folder(folder: Path) -> bool:
    """The gallery's layout before diffusers: the generator's config.json + model.safetensors at the top."""
    return (not (folder / INDEX_NAME).is_file() and (folder / CONFIG_NAME).is_file()
            and (folder / LEGACY_WEIGHTS_NAME).is_file())


def read_training_state(folder: str | os.PathLike) -> dict | None:
    path = Path(folder) / TRAINING_STATE
    return json.loads(path.read_text()) if path.is_file() else None


class GANPipeline(DiffusionPipeline):
    """Base of the demos' pipelines. A subclass names its GAN components' classes in ``component_classes``
    and the package modules that make up its remote-code file in ``remote_modules``."""

    component_classes: dict[str, type] = {}   # {"generator": DCGANGenerator}: loaded strictly by from_pretrained
    remote_module: str = ""                   # the module file written into saved folders ("faces_gan")
    remote_modules: tuple[str, ...] = ()      # the package modules that file is made of, in order
    legacy_component = "generator"            # what an old-layout folder holds
    # what the app reads of a Hub repo (a Space downloads these at build time: spaces.yml's preload_from_hub)
    hub_files: tuple[str, ...] = ("model_index.json", "generator/config.json",
                                  "generator/diffusion_pytorch_model.safetensors")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, revision: str | None = None,
                        torch_dtype: torch.dtype | None = None, local_files_only: bool = False, **components):
        """Load a local folder or a Hub repo (diffusers layout, or the gallery's earlier one), strictly.

        Components given as keyword arguments are used as they are (as in diffusers).
        """
        folder = resolve_folder(pretrained_model_name_or_path, revision, local_files_only)
        if (folder / INDEX_NAME).is_file():
            subfolders = {name: folder / name for name in cls.component_classes}
        elif (folder / CONFIG_NAME).is_file() and ((folder / WEIGHTS_NAME).is_file() or is_legacy_folder(folder)):
            if is_legacy_folder(folder):
                log.warning("%s is in the gallery's earlier layout (config.json + model.safetensors): it loads, but "
                            "convert it to the diffusers layout with `python -m gan_models.hub.convert %s OUT`",
                            folder, folder)
            subfolders = {cls.legacy_component: folder}  # a generator's folder alone
        else:
            raise WeightsError(f"{folder} holds no {INDEX_NAME} (a diffusers pipeline folder), no {CONFIG_NAME} + "
                               f"{WEIGHTS_NAME} (a generator's folder) and no {CONFIG_NAME} + {LEGACY_WEIGHTS_NAME} "
                               "(the gallery's earlier layout)")
        for name, model_cls in cls.component_classes.items():
            if name not in components:
                components[name] = model_cls.load_strict(subfolders.get(name, folder / name), torch_dtype)
        components = cls.load_extra_components(folder, components, torch_dtype)
        pipe = cls(**components)
        pipe.register_to_config(_name_or_path=str(pretrained_model_name_or_path))
        return pipe

    @classmethod
    def load_extra_components(cls, folder: Path, components: dict, torch_dtype) -> dict:
        """Components that are not GAN networks (a text encoder): a subclass loads them here."""
        return components

    def save_pretrained(self, save_directory, discriminator: GANModel | None = None,
                        training_state: dict | None = None, push_to_hub: bool = False, **kwargs):
        """diffusers' layout + the remote-code module file; with ``discriminator`` / ``training_state``,
        what continuing its training needs. ``push_to_hub``: see ``gan_models.hub.publish``."""
        if push_to_hub:
            raise ValueError("push with `python -m gan_models.hub.publish FOLDER REPO` (or the training scripts' "
                             "--push_to_hub): it checks the folder first and uploads only data files and the "
                             "module file")
        folder = Path(save_directory)
        for stale in (DISCRIMINATOR_DIR, TRAINING_STATE):  # nothing of an earlier save may be left to mismatch
            path = folder / stale
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        super().save_pretrained(folder, **kwargs)
        index = json.loads((folder / INDEX_NAME).read_text())
        index.pop("_name_or_path", None)  # where it was loaded from on this machine: not the folder's business
        index["_class_name"] = [self.remote_module, type(self).__name__]
        for name in self.component_classes:
            index[name] = [self.remote_module, type(getattr(self, name)).__name__]
        (folder / INDEX_NAME).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        write_remote_code(type(self), [folder] + [folder / name for name in self.component_classes])
        if discriminator is not None:
            discriminator.save_pretrained(folder / DISCRIMINATOR_DIR)
        if training_state is not None:
            (folder / TRAINING_STATE).write_text(json.dumps(training_state, indent=1) + "\n")
        return folder

    # A fast form of a component (BatchNorm folded, channels-last) is built once per device and dtype.
    def fast(self, name: str, build):
        net = getattr(self, name)
        param = next(net.parameters())
        key = (name, id(net), param.device, param.dtype)
        cache = self.__dict__.setdefault("_fast_cache", {})
        if key not in cache:
            cache.clear() if len(cache) > 8 else None
            cache[key] = build(net)
        return cache[key]

# ------------------------------------------------------------ from gan_models.core.images
"""Pictures read into RGB and made square: what the data loaders and the image-to-image pipelines share
(PIL and numpy only)."""


import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps



def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles of ``tile`` pixels start along a side of ``length`` (>= tile) so that neighbours overlap by
    at least ``overlap`` pixels and the last one ends at the edge: evenly spread, e.g. (600, 256, 32) -> 0 172 344."""
    n = max(1, math.ceil((length - overlap) / (tile - overlap)))
    return sorted({round(i * (length - tile) / (n - 1)) if n > 1 else 0 for i in range(n)})


def square_image(image: Image.Image, size: int, mode: str = "RGB", how: str = "center-crop") -> Image.Image:
    """Convert to ``mode`` and make a ``size`` x ``size`` square.

    ``center-crop`` resizes the short side to ``size`` and crops the middle;
    ``pad`` resizes the long side to ``size`` and pads with the edge colour (keeps the
    whole subject, e.g. a bird crop that is wider than tall); ``pad-blur`` pads the same way,
    then blurs the padded bands (Gaussian, radius size/12), so the edge pixels' colours
    become a soft out-of-focus background instead of straight streaks.
    """
    image = image.convert(mode)
    w, h = image.size
    if how in ("pad", "pad-blur"):
        scale = size / max(w, h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        image = image.resize((nw, nh), Image.Resampling.LANCZOS)
        arr = np.asarray(image)
        pad_y, pad_x = size - nh, size - nw
        pad = [(pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2)]
        if arr.ndim == 3:
            pad.append((0, 0))
        padded = np.pad(arr, pad, mode="edge")
        if how == "pad-blur" and (pad_y or pad_x):
            from PIL import ImageFilter

            padded = np.array(Image.fromarray(padded).filter(ImageFilter.GaussianBlur(radius=size / 12)))
            padded[pad[0][0]:pad[0][0] + nh, pad[1][0]:pad[1][0] + nw] = arr  # the photo itself stays sharp
        return Image.fromarray(padded)
    if how != "center-crop":
        raise ValueError(f"how must be 'center-crop', 'pad' or 'pad-blur', got {how!r}")
    if (w, h) == (size, size):
        return image
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), Image.Resampling.LANCZOS)
    left, top = (nw - size) // 2, (nh - size) // 2
    return image.crop((left, top, left + size, top + size))


def as_rgb(image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """A PIL image, numpy array or file path, in any mode (RGBA, L, P, CMYK, 16-bit, float) -> RGB.

    Transparent pixels become ``background`` (white unless told otherwise)."""
    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as f:
                f.load()
                image = f
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise InputError(f"cannot read the image file: {err}") from None
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
            raise InputError(f"an image array must be H x W or H x W x 1/3/4, got shape {arr.shape}")
        if arr.dtype != np.uint8:  # 16-bit, float [0, 1] or anything else: scale to 0..255
            arr = arr.astype(np.float64)
            top = 1.0 if arr.max(initial=0) <= 1.0 else (255.0 if arr.max() <= 255 else 65535.0)
            arr = np.clip(np.nan_to_num(arr) / top * 255 + 0.5, 0, 255).astype(np.uint8)
        image = Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr)
    if not isinstance(image, Image.Image):
        raise InputError(f"give an image (PIL image, numpy array or file path), got {type(image).__name__}")
    try:
        image.load()  # a file opened lazily is decoded here, after the size checks
    except (OSError, ValueError, SyntaxError) as err:
        raise InputError(f"not a readable image: the file is truncated or damaged ({err})") from None
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return as_rgb(np.asarray(image))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(ground, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as err:
        raise InputError(f"images of mode {image.mode} cannot be read: {err}") from None


def open_checked(image, max_pixels: int, limit: str):
    """A file path opened lazily (its size read from the header alone) or a picture as given, refused with an
    InputError if it claims more than ``max_pixels`` (``limit`` says the largest accepted, for the message)."""
    if isinstance(image, (str, Path)):
        try:
            image = Image.open(image)
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise InputError(f"cannot read the image file: {err}") from None
    if isinstance(image, Image.Image) and image.width * image.height > max_pixels:
        raise InputError(f"the image is {image.width}x{image.height} pixels; the largest accepted is {limit}")
    return image

# ------------------------------------------------------------ from gan_models.superres.srgan
"""SRGAN (Ledig et al. 2017): 4x single-image super-resolution. Generator and discriminator side by side.

The generator is SRResNet: a 9x9 convolution lifts the low-resolution picture to ``channels``
feature maps, ``num_blocks`` residual blocks (conv 3x3, PReLU, conv 3x3, plus the block's
input) refine them at the low resolution, where convolutions are cheap, and two sub-pixel
convolutions (Shi et al. 2016: a conv to 4x the channels, then ``PixelShuffle(2)`` rearranges
each group of 4 channels into a 2x2 block of pixels) double the size twice. A last 3x3 conv
makes RGB. Trained on the pixel loss alone it is "SRResNet"; fine-tuned against the
discriminator with a feature loss it is "SRGAN": the same network, other weights.

Two changes from the paper, both for this CPU and short training:
- no BatchNorm in the residual blocks (EDSR, Lim et al. 2017 and ESRGAN, Wang et al. 2018:
  BatchNorm costs time, and its batch statistics of small training patches do not fit big
  pictures at inference, which shows as colour shifts and artefacts);
- a global bicubic skip (``bicubic_skip``, as VDSR): the network adds its output to the
  bicubic upscale, so it learns only the missing detail and starts as good as bicubic.

The discriminator is the paper's: eight 3x3 convolutions with LeakyReLU(0.2), every second
one strided (the map halves four times), widths doubling every two; BatchNorm after every
conv but the first; then the paper's dense 1024 -> 1, here after a global average pool so
that D takes any patch size.
"""


import torch
import torch.nn.functional as F
from torch import nn



class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.PReLU(channels),
                                  nn.Conv2d(channels, channels, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # C x h x w -> C x h x w


class SRResNetGenerator(GANModel):
    """Low-resolution RGB in [-1, 1] -> ``scale`` x larger RGB in [-1, 1] (not clamped: callers clamp)."""

    @register_to_config
    def __init__(self, channels: int = 32, num_blocks: int = 8, scale: int = 4, bicubic_skip: bool = True):
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"scale must be 2, 4 or 8 (sub-pixel x2 steps), got {scale}")
        self.scale = scale
        c = channels
        self.head = nn.Sequential(nn.Conv2d(3, c, 9, 1, 4), nn.PReLU(c))        # 3 x h x w -> C x h x w
        self.body = nn.Sequential(*[ResidualBlock(c) for _ in range(num_blocks)], nn.Conv2d(c, c, 3, 1, 1))
        up = []
        for _ in range({2: 1, 4: 2, 8: 3}[scale]):                              # C x h x w -> C x 2h x 2w (x2 twice)
            up += [nn.Conv2d(c, 4 * c, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(c)]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(c, 3, 3, 1, 1)                                    # C x 4h x 4w -> 3 x 4h x 4w
        self.bicubic_skip = bicubic_skip
        if bicubic_skip:  # start at "output = bicubic": the learned part begins near zero
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    @property
    def receptive_radius(self) -> int:
        """How many low-resolution pixels around a pixel can change its output (tiles need this much margin)."""
        radius = 4 + 2 * (len(self.body) - 1) + 1 + 1  # head 9x9, 2 convs per block, body's last conv, first up conv
        return radius + 2 + 2                           # the later (upscaled) convs, and bicubic's 4x4 support

    def forward(self, low_res: torch.Tensor) -> torch.Tensor:
        # low_res: N x 3 x h x w in [-1, 1] -> N x 3 x (scale h) x (scale w)
        features = self.head(low_res)
        x = self.tail(self.upsample(features + self.body(features)))  # the long skip of SRResNet
        if self.bicubic_skip:
            x = x + F.interpolate(low_res, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return x


class SRGANDiscriminator(GANModel):
    """High-resolution RGB patch N x 3 x H x W in [-1, 1] -> one logit per patch (real > 0 > fake)."""

    @register_to_config
    def __init__(self, base_channels: int = 32, dense_features: int = 512):
        super().__init__()
        c = base_channels
        widths = [c, c, 2 * c, 2 * c, 4 * c, 4 * c, 8 * c, 8 * c]  # 32 32 64 64 128 128 256 256
        layers, c_in = [], 3
        for i, c_out in enumerate(widths):  # 3x64x64 -> 32x64x64 -> 32x32x32 -> 64x32x32 -> ... -> 256x4x4
            layers.append(nn.Conv2d(c_in, c_out, 3, 2 if i % 2 else 1, 1, bias=i == 0))
            if i:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, True))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),          # 256x4x4 -> 256
                                  nn.Linear(c_in, dense_features), nn.LeakyReLU(0.2, True),
                                  nn.Linear(dense_features, 1))                   # -> 1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))  # N x 1

# ------------------------------------------------------------ from gan_models.superres.pipeline
"""A picture -> the same picture 4x larger: bicubic, SRResNet or SRGAN, in tiles for any size (a diffusers pipeline).

``SuperResolutionPipeline.from_pretrained(folder or repo id)``; ``pipe(image, model="srgan").images[0]``.
The folder holds two generators of one architecture: ``srresnet`` (trained on the pixel loss
alone) and ``srgan`` (the same network fine-tuned against a discriminator with a feature
loss). ``model="bicubic"`` is the baseline both are compared with.
"""


from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import ImagePipelineOutput
from PIL import Image


MODELS = ("bicubic", "srresnet", "srgan")


@dataclass
class SuperResolutionPipelineOutput(ImagePipelineOutput):
    """``images`` (one upscaled picture per input), and what was done to get them."""

    model: str = "srgan"                          # bicubic, srresnet or srgan
    input_size: tuple[int, int] | None = None     # (width, height) of the picture as given
    tiles: int = 1                                # how many tiles the generator ran on
    messages: list[str] = field(default_factory=list)


def bicubic(low_res: torch.Tensor, scale: int) -> torch.Tensor:
    """N x 3 x h x w -> N x 3 x (scale h) x (scale w), the baseline (and the generators' own skip)."""
    return F.interpolate(low_res, scale_factor=scale, mode="bicubic", align_corners=False)


class SuperResolutionPipeline(GANPipeline):
    """Picture in, picture ``scale`` x larger out. Inputs larger than ``tile_size`` on a side run in tiles, each
    with a margin of context as wide as the generator's receptive field that is cut off again, so the stitched
    result equals a single pass (no seams, no blending); at most ``max_pixels`` input pixels."""

    component_classes = {"srresnet": SRResNetGenerator, "srgan": SRResNetGenerator}
    remote_module = "superres_gan"
    remote_modules = CORE_MODULES + ("gan_models.core.images", "gan_models.superres.srgan",
                                     "gan_models.superres.pipeline")
    legacy_component = "srgan"
    hub_files = ("model_index.json", "srresnet/config.json", "srresnet/diffusion_pytorch_model.safetensors",
                 "srgan/config.json", "srgan/diffusion_pytorch_model.safetensors")
    min_side = 8                   # a 1x1 picture has nothing to upscale
    max_side = 2048                # each side, input
    max_pixels = 512 * 512         # input pixels (a 2048x2048 output at 4x); larger pictures are refused before decoding
    tile_size = 256                # input pixels per tile side (plus the margin)

    def __init__(self, srresnet, srgan):  # two SRResNetGenerators of the same scale
        super().__init__()
        if srresnet.scale != srgan.scale:
            raise ValueError(f"srresnet upscales {srresnet.scale}x but srgan {srgan.scale}x")
        self.register_modules(srresnet=srresnet.eval(), srgan=srgan.eval())

    @property
    def scale(self) -> int:
        return self.srgan.scale

    def check_model(self, model) -> str:
        if model not in MODELS:
            raise InputError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        return model

    def check_size(self, w: int, h: int) -> None:
        if w * h > self.max_pixels or max(w, h) > self.max_side:
            raise InputError(f"the image is {w}x{h} pixels; the largest accepted is {self.max_pixels:,} pixels "
                             f"(for example 512x512, which becomes {512 * self.scale}x{512 * self.scale}) and "
                             f"{self.max_side} on a side: scale it down or crop it first")

    def prepare(self, image) -> Image.Image:
        """The RGB picture to upscale, after the size checks. The size is checked before a pixel is decoded or
        converted (a file's from its header, an array's from its shape): a 16-bit PNG of 40 megapixels is 90 KB
        to send and over a gigabyte to decode and widen (``as_rgb``) before the size could refuse it."""
        image = open_checked(image, self.max_pixels, f"{self.max_pixels:,} pixels (for example 512x512)")  # lazily
        if isinstance(image, Image.Image):  # opened or given: its size is known, its pixels maybe not yet decoded
            self.check_size(*image.size)
        elif isinstance(image, np.ndarray) and image.ndim in (2, 3):
            self.check_size(image.shape[1], image.shape[0])
        image = as_rgb(image)
        w, h = image.size
        if min(w, h) < self.min_side:
            raise InputError(f"the image is {w}x{h} pixels, too small to upscale: give at least "
                             f"{self.min_side}x{self.min_side}")
        return image

    @torch.inference_mode()
    def upscale(self, low_res: torch.Tensor, model: str = "srgan", tile_size: int | None = None) -> tuple[torch.Tensor, int]:
        """1 x 3 x h x w in [-1, 1] -> (1 x 3 x (s h) x (s w) in [-1, 1], number of tiles), s = scale."""
        model = self.check_model(model)
        s = self.scale
        if model == "bicubic":
            return bicubic(low_res, s).clamp_(-1, 1), 1
        net = getattr(self, model)
        param = next(net.parameters())
        tile = check_int(tile_size or self.tile_size, "tile_size", 16, 4096)
        margin = net.receptive_radius
        _, _, h, w = low_res.shape
        boxes = [(y, x) for y in tile_starts(h, min(tile, h), 0) for x in tile_starts(w, min(tile, w), 0)]
        out = torch.empty(1, 3, h * s, w * s)
        for y, x in (self.progress_bar(boxes) if len(boxes) > 1 else boxes):
            th, tw = min(tile, h), min(tile, w)
            y0, x0, y1, x1 = max(0, y - margin), max(0, x - margin), min(h, y + th + margin), min(w, x + tw + margin)
            window = low_res[:, :, y0:y1, x0:x1].to(param.device, param.dtype)
            result = net(window.contiguous(memory_format=torch.channels_last)).float().cpu()
            top, left = (y - y0) * s, (x - x0) * s  # the tile's own part of the window's output, margin cut off
            out[:, :, y * s:(y + th) * s, x * s:(x + tw) * s] = result[:, :, top:top + th * s, left:left + tw * s]
        return out.clamp_(-1, 1), len(boxes)

    def __call__(self, image, model: str = "srgan", *, output_type: str = "pil",
                 tile_size: int | None = None) -> SuperResolutionPipelineOutput:
        """Upscale one picture (PIL image, numpy array or file path) with ``model``: bicubic, srresnet or srgan."""
        model = self.check_model(model)
        check_output_type(output_type)
        picture = self.prepare(image)
        pixels = torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1)[None].float().div_(127.5).sub_(1.0)
        out, tiles = self.upscale(pixels, model, tile_size)
        w, h = picture.size
        note = f"{model}: {w}x{h} -> {w * self.scale}x{h * self.scale}"
        if tiles > 1:
            note += f" in {tiles} tiles"
        return SuperResolutionPipelineOutput(images=to_output(out, output_type), model=model, input_size=(w, h),
                                             tiles=tiles, messages=[note])
