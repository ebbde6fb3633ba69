"""GAN Gallery: the cyclegan_maps pipeline and its networks, as one module file for diffusers' trust_remote_code.

Made from the package modules gan_models.core.remote_code, gan_models.core.checks, gan_models.core.modeling, gan_models.core.pipelines, gan_models.core.images, gan_models.maps.drawing, gan_models.maps.palette, gan_models.maps.pix2pix, gan_models.maps.pipeline, gan_models.maps.cyclegan, gan_models.maps.cycle_pipeline
(joined by gan_models/core/remote_code.py; edit those, not this file)."""

from __future__ import annotations

GAN_GALLERY_REMOTE_MODULE = 'cyclegan_maps'


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

# ------------------------------------------------------------ from gan_models.maps.drawing
"""Maps drawn by code and by hand: the brushes (the training maps' colours), a blank canvas, a street map drawn
from a seed, and the largest picture the maps pipeline takes. numpy and PIL only, no torch: the Maps tab builds its
page from these before the app listens (palette.py, which scores maps with torch, imports them from here).

    python -m gan_models.maps.palette draw --seed 3 --out map.png   # a map drawn by code, no data involved
"""


import math

import numpy as np
from PIL import Image, ImageDraw

MAX_INPUT_PIXELS = 64_000_000  # the largest picture the maps pipeline takes (the tab refuses larger from the header)
# One colour per thing a user paints: the first colour of each class of palette.MAP_PALETTE, plus two road kinds.
BRUSHES = {
    "background": "#e8e5de", "street": "#fdfdfa", "avenue": "#f6dda0", "highway": "#f69f28",
    "water": "#b0cffe", "park": "#cadead", "building": "#f2f0ea",
}


def draw_map(seed: int = 0, size: int = 256) -> Image.Image:
    """A street map in the training maps' palette, drawn from a seed (no data involved).

    A rotated street grid with buildings in the blocks, a park or two, perhaps an avenue,
    a highway and some water: something for the map -> aerial direction to work on.
    """
    rng = np.random.default_rng(seed)
    s = 2 * size  # drawn at twice the size, then downsampled: soft edges like the real tiles
    img = Image.new("RGB", (s, s), BRUSHES["background"])
    draw = ImageDraw.Draw(img)
    angle = rng.uniform(0, math.pi / 2)
    ux, uy = np.array([math.cos(angle), math.sin(angle)]), np.array([-math.sin(angle), math.cos(angle)])
    centre = np.array([s / 2, s / 2])

    def quad(u0, u1, v0, v1):  # a rectangle in street coordinates -> polygon in pixels
        return [tuple(centre + a * ux + b * uy) for a, b in ((u0, v0), (u1, v0), (u1, v1), (u0, v1))]

    du, dv = rng.uniform(0.10, 0.17) * s, rng.uniform(0.18, 0.32) * s  # block size
    street = rng.uniform(0.012, 0.02) * s
    reach = s * 0.75
    us, vs = np.arange(-reach, reach, du), np.arange(-reach, reach, dv)
    parks = {(int(rng.integers(len(us))), int(rng.integers(len(vs)))) for _ in range(rng.integers(1, 4))}
    for i, u in enumerate(us):
        for j, v in enumerate(vs):
            if (i, j) in parks:
                draw.polygon(quad(u, u + du, v, v + dv), fill=BRUSHES["park"])
                continue
            n = int(rng.integers(2, 6))  # a row of buildings along each long side of the block
            for side in (0, 1):
                for b in range(n):
                    if rng.random() < 0.25:
                        continue
                    b0, b1 = v + street + b * (dv - 2 * street) / n, v + street + (b + 0.8) * (dv - 2 * street) / n
                    depth = rng.uniform(0.25, 0.42) * du
                    a0 = u + street * 1.5 if side == 0 else u + du - street * 1.5 - depth
                    draw.polygon(quad(a0, a0 + depth, b0, b1), fill=BRUSHES["building"])
    for u in us:
        draw.polygon(quad(u - street / 2, u + street / 2, -reach, reach), fill=BRUSHES["street"])
    for v in vs:
        draw.polygon(quad(-reach, reach, v - street / 2, v + street / 2), fill=BRUSHES["street"])
    if rng.random() < 0.6:  # an avenue along one grid line
        v = vs[int(rng.integers(len(vs)))]
        draw.polygon(quad(-reach, reach, v - street, v + street), fill=BRUSHES["avenue"])
    if rng.random() < 0.35:  # a curving highway
        t = np.linspace(-1, 1, 60)
        bend, shift = rng.uniform(-0.3, 0.3) * s, rng.uniform(-0.3, 0.3) * s
        pts = [tuple(centre + x * reach * uy + (shift + bend * x * x) * ux) for x in t]
        draw.line(pts, fill=BRUSHES["highway"], width=int(street * 1.6), joint="curve")
    if rng.random() < 0.4:  # water along one edge, with a wavy shore
        edge = int(rng.integers(4))
        depth, waves = rng.uniform(0.15, 0.45) * s, rng.uniform(0.02, 0.06) * s
        t = np.linspace(0, s, 40)
        shore = depth + waves * np.sin(t / s * rng.uniform(3, 9) + rng.uniform(0, 6))
        line = [(x, d) for x, d in zip(t, shore)]
        poly = [(0, 0), (s, 0)] + line[::-1]
        rotate = {0: lambda p: p, 1: lambda p: (s - p[1], p[0]), 2: lambda p: (p[0], s - p[1]), 3: lambda p: (p[1], p[0])}
        draw.polygon([rotate[edge](p) for p in poly], fill=BRUSHES["water"])
    return img.resize((size, size), Image.Resampling.LANCZOS)


def blank_canvas(size: int = 256) -> Image.Image:
    """A map with nothing on it yet (the background colour): the drawing canvas."""
    return Image.new("RGB", (size, size), BRUSHES["background"])

# ------------------------------------------------------------ from gan_models.maps.palette
"""What is particular to the maps demo: the map palette, a palette-based score (maps drawn by code and the
brushes are in drawing.py, which needs no torch).

The palette was measured on the training maps (pix2pix "maps", Google Maps tiles of the
New York area): k-means with k = 12 over 900,000 pixels of 300 maps, each centre then
named by looking at where it falls. A pixel of a map (real or generated) belongs to the
class of its nearest palette colour, so a generated map can be scored against the real
one like a segmentation: per-class IoU, their mean (mIoU), and pixel accuracy.

    python -m gan_models.judges.evaluate maps               # both directions (gan_models/judges/maps_eval.py)
    python -m gan_models.maps.palette draw --seed 3 --out map.png   # a map drawn by code, no data involved
"""


import argparse

import numpy as np
import torch
from PIL import Image

# The drawing (brushes, canvas, maps drawn by code) needs no torch; its names can be imported from here too.

MAP_CLASSES = ("background", "roads", "water", "parks", "buildings")
MAP_PALETTE = {  # class -> measured colours (k-means centres of the training maps, RGB)
    "background": [(232, 229, 222), (223, 220, 214), (233, 222, 194), (197, 207, 189)],  # land, edges, campus, paths
    "roads": [(253, 253, 250), (246, 221, 160), (241, 210, 115), (246, 159, 40), (229, 172, 73)],  # white, yellow, orange
    "water": [(176, 207, 254)],
    "parks": [(202, 222, 173)],
    "buildings": [(242, 240, 234)],
}


def _prototypes() -> tuple[torch.Tensor, torch.Tensor]:
    colours = [c for name in MAP_CLASSES for c in MAP_PALETTE[name]]
    owners = [k for k, name in enumerate(MAP_CLASSES) for _ in MAP_PALETTE[name]]
    return torch.tensor(colours, dtype=torch.float32), torch.tensor(owners)


def nearest_palette_colours(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W maps -> N x H x W indices of each pixel's nearest palette colour (12 colours)."""
    colours, _ = _prototypes()
    pixels = images.permute(0, 2, 3, 1).reshape(-1, 3).float()
    nearest = torch.cat([torch.cdist(chunk, colours).argmin(1) for chunk in pixels.split(1 << 20)])
    return nearest.view(images.shape[0], *images.shape[2:])


def classify_map_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W maps -> N x H x W class indices into MAP_CLASSES (nearest palette colour)."""
    return _prototypes()[1][nearest_palette_colours(images)]


def flat_colours(image: torch.Tensor) -> torch.Tensor:
    """uint8 3 x H x W map -> its flat-colour version, uint8 3 x H x W: every pixel painted the mean colour of the
    pixels of this map that share its nearest palette colour (the map's own colours, not the palette's, so that a
    generator's slightly-off land colour is not counted as a difference). A map drawn in flat colours is (edges
    aside) its own flat version; what a generator leaves on top of the flat colours is what differs."""
    index = nearest_palette_colours(image[None])[0].flatten()                   # H*W
    pixels = image.reshape(3, -1).double()                                      # 3 x H*W
    k = len(_prototypes()[0])
    sums = torch.zeros(k, 3, dtype=torch.float64).index_add_(0, index, pixels.T)
    means = sums / torch.bincount(index, minlength=k).clamp(min=1)[:, None]      # k x 3
    return means[index].T.reshape(image.shape).round().to(torch.uint8)


def palette_scores(generated: torch.Tensor, real: torch.Tensor) -> dict:
    """Per-class IoU, mIoU and pixel accuracy of generated maps against the real ones (uint8 N x 3 x H x W).

    Intersections and unions are summed over all images first (as in semantic segmentation
    benchmarks); mIoU averages the classes present in the real or generated maps.
    """
    if generated.shape != real.shape:
        raise ValueError(f"generated {tuple(generated.shape)} and real {tuple(real.shape)} maps differ in shape")
    k = len(MAP_CLASSES)
    pred, true = classify_map_pixels(generated).flatten(), classify_map_pixels(real).flatten()
    confusion = torch.bincount(true * k + pred, minlength=k * k).view(k, k).double()  # rows: real, columns: generated
    tp = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - tp
    iou = {name: (round(float(tp[i] / union[i]), 4) if union[i] > 0 else None) for i, name in enumerate(MAP_CLASSES)}
    present = [v for v in iou.values() if v is not None]
    share = (confusion.sum(1) / confusion.sum()).tolist()
    return {"miou": round(sum(present) / len(present), 4), "pixel_accuracy": round(float(tp.sum() / confusion.sum()), 4),
            "iou": iou, "real_class_share": {n: round(s, 4) for n, s in zip(MAP_CLASSES, share)}}


def synthetic_pair(seed: int, size: int = 286) -> tuple[Image.Image, Image.Image]:
    """(fake aerial, map) made by code for tests and benchmarks: the map recoloured, plus noise."""
    drawn = draw_map(seed, size)
    classes = classify_map_pixels(torch.from_numpy(np.asarray(drawn).copy()).permute(2, 0, 1)[None])[0].numpy()
    ground = np.array([[96, 88, 72], [70, 70, 72], [24, 40, 40], [40, 72, 36], [150, 150, 145]], dtype=np.float64)
    noise = np.random.default_rng(seed).normal(0, 12, (size, size, 3))
    return Image.fromarray(np.clip(ground[classes] + noise, 0, 255).astype(np.uint8)), drawn


def pair_columns(columns: list[str], a_column: str | None = None, b_column: str | None = None) -> tuple[str, str]:
    """The (A, B) image columns: as given, else ("aerial", "map") or HugGAN's ("imageA", "imageB")."""
    if a_column is None and b_column is None:
        for a, b in (("aerial", "map"), ("imageA", "imageB")):
            if a in columns and b in columns:
                return a, b
        raise ValueError(f"cannot tell the paired image columns from {columns}: name them with "
                         "--a_column and --b_column")
    for name in (a_column, b_column):
        if name not in columns:
            raise ValueError(f"the dataset has no column {name!r}; its columns are {columns}")
    return a_column, b_column


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("draw", help="draw a map from a seed (in the data's palette) and save it")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--size", type=int, default=256)
    d.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    draw_map(args.seed, args.size).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()

# ------------------------------------------------------------ from gan_models.maps.pix2pix
"""pix2pix (Isola et al. 2017): paired image-to-image translation, e.g. aerial photo <-> map.

The generator is a U-Net: an encoder of strided 4x4 convolutions halves the picture eight
times (256 -> 1), a decoder of transposed convolutions doubles it back, and each decoder
level also sees the encoder's map of the same size (the skip connections), so the fine
layout of the input (where the roads run) reaches the output directly while the
bottleneck carries the context (what kind of area this is).
The discriminator is a 70x70 PatchGAN: it sees the input and an output side by side
and scores every overlapping 70x70 patch real or fake (a 30x30 grid of logits for a
256x256 pair). It judges local texture and style; the L1 term of the loss takes care of
the low frequencies.

``Pix2PixGenerator`` holds one U-Net per direction (``a2b``, ``b2a``; either may be
absent), so one component folder serves both directions (maps/pipeline.py: the pipeline);
``Pix2PixDiscriminator`` holds their PatchGANs the same way.
"""


import torch
from torch import nn


DIRECTIONS = ("a2b", "b2a")


class UNetGenerator(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, base_channels: int = 32, num_downs: int = 8,
                 max_mult: int = 3, dropout: float = 0.5):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5, got {num_downs}")
        self.tile_size = 2 ** num_downs  # 256 for 8 levels: the bottleneck is 1x1
        # the paper's widths are 64 x (1 2 4 8 8 8 8 8); the gallery's defaults 32 x (1 2 3 3 3 3 3 3): 2.5 M params
        ch = [base_channels * min(2 ** i, max_mult) for i in range(num_downs)]  # 32 64 96 96 96 96 96 96
        # encoder: 3x256x256 -> 32x128x128 -> 64x64x64 -> 96x32x32 -> 96x16x16 -> ... -> 96x2x2 -> 96x1x1
        down = [nn.Sequential(nn.Conv2d(in_channels, ch[0], 4, 2, 1))]
        for i in range(1, num_downs - 1):
            down.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1, bias=False),
                                      nn.BatchNorm2d(ch[i])))
        down.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(ch[-2], ch[-1], 4, 2, 1)))  # 1x1: nothing to normalise
        # decoder: up[i] makes the map of down[i]'s input size; from up[-2] on it also gets down[i]'s output
        up = [nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * ch[0], out_channels, 4, 2, 1), nn.Tanh())]
        for i in range(1, num_downs):
            c_in = ch[i] if i == num_downs - 1 else 2 * ch[i]  # the innermost level has no skip to join
            block = [nn.ReLU(), nn.ConvTranspose2d(c_in, ch[i - 1], 4, 2, 1, bias=False), nn.BatchNorm2d(ch[i - 1])]
            if dropout and num_downs - 4 <= i <= num_downs - 2:  # the paper's noise: dropout in 3 inner levels
                block.append(nn.Dropout(dropout))
            up.append(nn.Sequential(*block))
        self.down, self.up = nn.ModuleList(down), nn.ModuleList(up)
        init_dcgan_weights(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 3 x 256 x 256 in [-1, 1] -> N x 3 x 256 x 256 in [-1, 1]
        skips = []
        x = images
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[-1](skips.pop())                      # 96x1x1 -> 96x2x2
        for block in reversed(self.up[:-1]):
            x = block(torch.cat([x, skips.pop()], 1))     # (96+96)x2x2 -> 96x4x4 ... (32+32)x128x128 -> 3x256x256
        return x


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN: (input, output) pair -> one logit per overlapping 70x70 patch."""

    def __init__(self, in_channels: int = 6, base_channels: int = 64, num_layers: int = 3):
        super().__init__()
        c = base_channels
        layers = [nn.Conv2d(in_channels, c, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # 6x256x256 -> 64x128x128
        for i in range(1, num_layers + 1):  # -> 128x64x64 -> 256x32x32 -> 512x31x31 (last one stride 1)
            c_out = base_channels * min(2 ** i, 8)
            layers += [nn.Conv2d(c, c_out, 4, 2 if i < num_layers else 1, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.LeakyReLU(0.2, True)]
            c = c_out
        layers += [nn.Conv2d(c, 1, 4, 1, 1)]  # -> 1x30x30: each logit sees a 70x70 patch of the pair
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        # inputs, outputs: N x 3 x 256 x 256 -> logits N x 1 x 30 x 30 (real pair > 0 > fake pair)
        return self.net(torch.cat([inputs, outputs], 1))


class Pix2PixGenerator(GANModel):
    """One U-Net per translation direction; ``a2b`` and ``b2a`` are UNetGenerator configs (or None)."""

    @register_to_config
    def __init__(self, a2b: dict | None = None, b2a: dict | None = None, a_name: str = "A", b_name: str = "B"):
        super().__init__()
        configs = {d: cfg for d, cfg in (("a2b", a2b), ("b2a", b2a)) if cfg is not None}
        if not configs:
            raise ValueError("give the U-Net config of at least one direction (a2b or b2a)")
        self.a_name, self.b_name = a_name, b_name
        for d, cfg in configs.items():  # nested settings get the same checks as a config.json's own
            check_config(UNetGenerator, cfg, f"the {d} U-Net's settings")
        self.nets = nn.ModuleDict({d: UNetGenerator(**cfg) for d, cfg in configs.items()})

    @property
    def directions(self) -> list[str]:
        return list(self.nets)

    def forward(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return self.nets[direction](images)


class Pix2PixDiscriminator(GANModel):
    """One PatchGAN per direction, as ``Pix2PixGenerator`` holds one U-Net per direction; ``a2b`` and ``b2a`` are
    PatchDiscriminator configs (or None). A training run trains one direction; the gallery's folder carries both."""

    @register_to_config
    def __init__(self, a2b: dict | None = None, b2a: dict | None = None):
        super().__init__()
        configs = {d: cfg for d, cfg in (("a2b", a2b), ("b2a", b2a)) if cfg is not None}
        if not configs:
            raise ValueError("give the PatchGAN config of at least one direction (a2b or b2a)")
        for d, cfg in configs.items():
            check_config(PatchDiscriminator, cfg, f"the {d} PatchGAN's settings")
        self.nets = nn.ModuleDict({d: PatchDiscriminator(**cfg) for d, cfg in configs.items()})

    @property
    def directions(self) -> list[str]:
        return list(self.nets)

    def forward(self, inputs: torch.Tensor, outputs: torch.Tensor, direction: str) -> torch.Tensor:
        return self.nets[direction](inputs, outputs)  # N x 3 x 256 x 256 twice -> N x 1 x 30 x 30

# ------------------------------------------------------------ from gan_models.maps.pipeline
"""A picture + a direction -> the translated picture, in tiles for any size: pix2pix's diffusers pipeline.

Beside the translation, the way there and back (``cycle``: aerial -> map -> aerial, with noise on the map if
asked) and what a map carries beyond its flat colours (``hidden_signal``): the views that show CycleGAN hiding
the photo inside its map (cycle_pipeline.py holds the CycleGAN pipeline, which inherits all of this).
"""


import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn



@torch.no_grad()
def fast_unet(net: UNetGenerator) -> UNetGenerator:
    """Inference copy: BatchNorm folded into the convolutions, dropout gone, channels-last."""
    fast = copy.deepcopy(net).eval()
    for blocks in (fast.down, fast.up):
        for i, block in enumerate(blocks):
            blocks[i] = nn.Sequential(*[m for m in fuse_batchnorm(block) if not isinstance(m, nn.Dropout)])
    return fast.to(memory_format=torch.channels_last)


@dataclass
class CycleOutput(GANPipelineOutput):
    """``images``: the input as translated (after ``prepare``), the translation as it was sent back (rounded to 8
    bits, plus the noise if any), the reconstruction, and |input - reconstruction| x ``ERROR_GAIN`` (grey);
    ``error``: the reconstruction's mean absolute error in 8-bit levels (0-255); ``psnr``: in dB."""

    error: float = 0.0
    psnr: float = 0.0


ERROR_GAIN = 4  # the error picture shows |input - reconstruction| four times brighter: small errors must show
MAX_NOISE = 64.0  # the largest noise (standard deviation, 8-bit levels) cycle() adds to the translation
MAX_GAIN = 1000.0  # the largest amplification hidden_signal() takes


def quantize(pixels: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> the nearest of the 256 levels a PNG keeps, still in [-1, 1]."""
    return pixels.add(1).mul(127.5).round().clamp(0, 255).div(127.5).sub(1)


class Pix2PixPipeline(GANPipeline):
    """PIL image + direction -> translated image. ``Pix2PixPipeline.from_pretrained(folder or repo id)``.

    ``mode="tiles"`` keeps the picture's own scale: it is scaled down to at most
    ``max_pixels`` (up so its short side is one tile, if smaller) and translated in
    overlapping tiles that are blended (no seams). ``mode="fit"`` centre-crops it to a
    square and resizes that to one tile: fast, but the scale changes.
    """

    component_classes = {"generator": Pix2PixGenerator}
    remote_module = "maps_gan"
    remote_modules = CORE_MODULES + ("gan_models.core.images", "gan_models.maps.drawing", "gan_models.maps.palette",
                                     "gan_models.maps.pix2pix", "gan_models.maps.pipeline")
    min_side, max_input_pixels, max_pixels, max_aspect = 16, MAX_INPUT_PIXELS, 1024 * 1024, 8.0

    def __init__(self, generator):  # a Pix2PixGenerator
        super().__init__()
        self.register_modules(generator=generator.eval())

    @property
    def directions(self) -> list[str]:
        return self.generator.directions

    @property
    def tile_size(self) -> int:
        return next(iter(self.generator.nets.values())).tile_size

    def describe(self, direction: str) -> str:
        a, b = self.generator.a_name, self.generator.b_name
        return f"{a} -> {b}" if direction == "a2b" else f"{b} -> {a}"

    def check_direction(self, direction) -> str:
        if direction not in DIRECTIONS:
            raise InputError(f"direction must be 'a2b' ({self.describe('a2b')}) or 'b2a' ({self.describe('b2a')}), "
                             f"got {direction!r}")
        if direction not in self.generator.nets:
            raise InputError(f"these weights translate only {', '.join(self.describe(d) for d in self.directions)}")
        return direction

    def _inference_nets(self) -> dict:
        """direction -> the network that translates: the U-Nets with BatchNorm folded, channels-last (built once)."""
        return self.fast("generator", lambda g: {d: fast_unet(n) for d, n in g.nets.items()})

    @torch.inference_mode()
    def translate(self, pixels: torch.Tensor, direction: str, batch_size: int = 8) -> torch.Tensor:
        # pixels: N x 3 x T x T in [-1, 1] -> N x 3 x T x T in [-1, 1], T = tile_size
        direction = self.check_direction(direction)
        net = self._inference_nets()[direction]
        param = next(net.parameters())
        batches = pixels.split(batch_size)
        return torch.cat([net(x.to(param.device, param.dtype).contiguous(memory_format=torch.channels_last))
                          .float().cpu().contiguous()
                          for x in (self.progress_bar(batches) if len(batches) > 1 else batches)])

    def prepare(self, image, mode: str) -> tuple[Image.Image, str]:
        """The RGB picture the model will see, and a sentence saying what was done to it."""
        if mode not in ("tiles", "fit"):
            raise InputError(f"mode must be 'tiles' or 'fit', got {mode!r}")
        image = as_rgb(open_checked(image, self.max_input_pixels, f"{self.max_input_pixels // 1_000_000} megapixels"))
        w, h, t = image.width, image.height, self.tile_size
        if w * h > self.max_input_pixels:
            raise InputError(f"the image is {w}x{h} pixels; the largest accepted is "
                             f"{self.max_input_pixels // 1_000_000} megapixels")
        if min(w, h) < self.min_side:
            raise InputError(f"the image is {w}x{h} pixels, too small to translate: give at least "
                             f"{self.min_side}x{self.min_side} (the model works on {t}x{t} tiles)")
        if mode == "fit":
            note = "" if (w, h) == (t, t) else f"{w}x{h} centre-cropped to a square and resized to {t}x{t}"
            return square_image(image, t), note
        if max(w, h) / min(w, h) > self.max_aspect:
            raise InputError(f"the image is {w}x{h} pixels, too long and thin to tile: crop it to an aspect ratio "
                             f"of at most {self.max_aspect:g}:1, or use mode 'fit' (centre square)")
        scale = min(1.0, math.sqrt(self.max_pixels / (w * h)))
        scale = max(scale, t / min(w, h))  # the short side is at least one tile
        if scale != 1.0:
            size = (max(t, round(w * scale)), max(t, round(h * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
            return image, f"{w}x{h} resized to {size[0]}x{size[1]}"
        return image, ""

    def __call__(self, image, direction: str = "a2b", *, mode: str = "tiles", output_type: str = "pil") -> GANPipelineOutput:
        """Translate one image; ``out.images[0]`` has the size of the prepared input (see ``prepare``)."""
        direction = self.check_direction(direction)
        check_output_type(output_type)
        picture, note = self.prepare(image, mode)
        out, tiles = self.tiled(pil_to_pixels(picture), direction)
        note = "; ".join(filter(None, [note, f"{tiles} tile{'s' * (tiles > 1)} of {self.tile_size}x{self.tile_size}"]))
        return GANPipelineOutput(images=to_output(out[None], output_type), messages=[f"{self.describe(direction)}: {note}"])

    def tiled(self, pixels: torch.Tensor, direction: str, overlap: int | None = None) -> tuple[torch.Tensor, int]:
        """3 x H x W (H, W >= tile) -> 3 x H x W through overlapping tiles, blended with linear ramps."""
        t = self.tile_size
        overlap = t // 8 if overlap is None else overlap
        _, h, w = pixels.shape

        boxes = [(y, x) for y in tile_starts(h, t, overlap) for x in tile_starts(w, t, overlap)]
        outputs = self.translate(torch.stack([pixels[:, y:y + t, x:x + t] for y, x in boxes]), direction)
        if len(boxes) == 1:
            return outputs[0], 1
        ramp = torch.clamp(torch.minimum(torch.arange(t) + 1.0, t - torch.arange(t).float()) / (overlap + 1), max=1.0)
        weight = ramp[:, None] * ramp[None, :]  # T x T: 1 inside, falling towards the tile's edges
        total, norm = torch.zeros_like(pixels), torch.zeros(h, w)
        for (y, x), tile in zip(boxes, outputs):
            total[:, y:y + t, x:x + t] += tile * weight
            norm[y:y + t, x:x + t] += weight
        return total / norm, len(boxes)

    def cycle(self, image, direction: str = "a2b", *, mode: str = "tiles", noise: float = 0.0, seed: int = 0,
              output_type: str = "pil") -> CycleOutput:
        """There and back: translate ``image`` in ``direction`` (aerial -> map for "a2b"), then the result the other
        way, and measure how far the reconstruction is from the input.

        The translation is rounded to 8 bits on the way, as the PNG a user downloads would carry it. ``noise`` (the
        standard deviation of Gaussian noise, in 8-bit levels, drawn from ``seed``) is added to it before the way
        back: CycleGAN's near-perfect reconstructions come from a signal it hides in the map, too faint to see (Chu
        et al. 2017, "CycleGAN, a master of steganography"); a little noise destroys it and the reconstruction falls
        apart, while a map that carries only what a map shows loses little more. ``out.images``: see CycleOutput.
        """
        direction = self.check_direction(direction)
        back = self.check_direction("b2a" if direction == "a2b" else "a2b")
        noise = check_float(noise, "noise", 0.0, MAX_NOISE)
        seed = check_seed(seed)
        check_output_type(output_type)
        picture, note = self.prepare(image, mode)
        pixels = pil_to_pixels(picture)                                      # 3 x H x W in [-1, 1]
        there, tiles = self.tiled(pixels, direction)
        sent = quantize(there)
        if noise:
            shake = torch.randn(sent.shape, generator=torch.Generator().manual_seed(seed)) * (noise / 127.5)
            sent = quantize((sent + shake).clamp(-1, 1))
        returned, _ = self.tiled(sent, back)
        returned = quantize(returned)
        diff = (returned - pixels).abs() * 127.5                             # 3 x H x W, 8-bit levels
        error, mse = float(diff.mean()), float(diff.square().mean())
        psnr = float("inf") if mse == 0 else 10 * math.log10(255 ** 2 / mse)
        shown = (diff.mean(0, keepdim=True) * ERROR_GAIN / 127.5 - 1).clamp(-1, 1).expand(3, -1, -1)  # grey
        steps = f"{self.describe(direction)} -> {self.describe(back).split(' -> ')[1]}"
        noted = "; ".join(filter(None, [note, f"{tiles} tile{'s' * (tiles > 1)} of {self.tile_size}x{self.tile_size}",
                                        f"noise sigma {noise:g} levels on the way back" if noise else ""]))
        return CycleOutput(images=to_output(torch.stack([pixels, sent, returned, shown]), output_type),
                           labels=["input", self.describe(direction), self.describe(back),
                                   f"|input - reconstruction| x{ERROR_GAIN}"],
                           messages=[f"{steps}: reconstruction error {error:.2f} levels of 255 on average, PSNR "
                                     f"{psnr:.1f} dB ({noted})"],
                           error=round(error, 3), psnr=round(psnr, 2))

    def hidden_signal(self, image, gain: float = 25.0, output_type: str = "pil") -> GANPipelineOutput:
        """What a map carries beyond its flat colours: ``image`` (a map, e.g. ``cycle``'s translation) minus its
        flat-colour version (palette.flat_colours), amplified ``gain`` times around mid-grey.

        A map drawn in flat colours shows only its edges; CycleGAN's maps show the photo they came from, in
        differences of a level or two that nobody sees without the amplification. ``out.images``: the flat
        version and the amplified difference; ``messages``: the mean and largest difference in 8-bit levels.
        """
        gain = check_float(gain, "gain", 1.0, MAX_GAIN)
        check_output_type(output_type)
        picture = as_rgb(open_checked(image, self.max_input_pixels, f"{self.max_input_pixels // 1_000_000} megapixels"))
        if picture.width * picture.height > 4 * self.max_pixels:  # (a translation in tiles is at most about 1 MP)
            raise InputError(f"the map is {picture.width}x{picture.height} pixels; the largest this view takes is "
                             f"{4 * self.max_pixels / 1e6:.1f} megapixels")
        pixels = torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1)    # uint8 3 x H x W
        flat = flat_colours(pixels)
        diff = pixels.float() - flat.float()                                      # -255 .. 255 levels
        amplified = (diff * gain + 127.5).round().clamp(0, 255) / 127.5 - 1
        return GANPipelineOutput(images=to_output(torch.stack([flat.float() / 127.5 - 1, amplified]), output_type),
                                 labels=["flat colours", f"map - flat colours, x{gain:g}"],
                                 messages=[f"the map differs from its flat colours by {float(diff.abs().mean()):.2f} "
                                           f"levels of 255 on average (largest {int(diff.abs().max())}), shown "
                                           f"{gain:g} times larger around mid-grey"])


def pil_to_pixels(picture: Image.Image) -> torch.Tensor:
    """An RGB picture -> 3 x H x W floats in [-1, 1]."""
    return torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)

# ------------------------------------------------------------ from gan_models.maps.cyclegan
"""CycleGAN (Zhu et al. 2017): unpaired translation, e.g. aerial photo <-> map learned without a single pair.

pix2pix (pix2pix.py) learns from pairs: it sees the photo and the true map of the same place and
is told, pixel by pixel, how far off it is (L1). CycleGAN never sees a pair. It trains two
generators, G: A -> B and F: B -> A, each against a discriminator that knows only what pictures
of its side look like (D_B: real maps vs G's maps; D_A: real photos vs F's photos). That alone
would let G draw any plausible map, so the **cycle-consistency** loss ties the two together:
F(G(a)) must give back a, and G(F(b)) must give back b (L1, weight lambda = 10). The
**identity** loss (weight lambda / 2) asks G to leave a picture that is already a map alone,
which keeps colours from drifting.

The generator is the paper's ResNet (after Johnson et al. 2016): a 7x7 convolution, two
stride-2 convolutions down to a quarter of the size, residual blocks there, two transposed
convolutions back up and a 7x7 convolution to RGB, with reflection padding and InstanceNorm
throughout. It is fully convolutional and has no skip connections past the bottleneck: unlike
the U-Net, the whole picture has to go through the quarter-size residual stack. The
discriminator is pix2pix's 70x70 PatchGAN with InstanceNorm, judging one picture (not a pair).

``CycleGANGenerator`` holds both directions, ``a2b`` and ``b2a`` (``Pix2PixGenerator``'s layout: the
same pipeline code serves both models); ``CycleGANDiscriminator`` holds D for each direction's
output (``a2b``: judges pictures of B, real ones and those G made).
"""


import torch
from torch import nn



class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """The paper's generator: c7s1-C, d2C, d4C, R4C x num_blocks, u2C, uC, c7s1-3 (C = base_channels).

    The paper uses C = 64 with 6 blocks for 128x128 pictures and 9 for 256x256; the gallery's CPU run uses fewer
    channels (README, *Maps: unpaired*). Any picture whose sides are multiples of 4 goes through (fully convolutional).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, base_channels: int = 32, num_blocks: int = 6):
        super().__init__()
        c = base_channels
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, c, 7), nn.InstanceNorm2d(c), nn.ReLU(True)]
        for mult in (1, 2):  # 3xHxW -> CxHxW -> 2C x H/2 x W/2 -> 4C x H/4 x W/4
            layers += [nn.Conv2d(c * mult, c * mult * 2, 3, 2, 1), nn.InstanceNorm2d(c * mult * 2), nn.ReLU(True)]
        layers += [ResidualBlock(4 * c) for _ in range(num_blocks)]  # 4C x H/4 x W/4, num_blocks times
        for mult in (4, 2):  # -> 2C x H/2 x W/2 -> C x H x W
            layers += [nn.ConvTranspose2d(c * mult, c * mult // 2, 3, 2, 1, output_padding=1),
                       nn.InstanceNorm2d(c * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, out_channels, 7), nn.Tanh()]  # -> 3 x H x W in [-1, 1]
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)  # the reference code's init: N(0, 0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 3 x H x W in [-1, 1] (H, W multiples of 4) -> N x 3 x H x W in [-1, 1]
        return self.net(images)


class PatchGAN(nn.Module):
    """70x70 PatchGAN on one picture (CycleGAN's D): 3 x H x W -> one logit per overlapping 70x70 patch.

    pix2pix.PatchDiscriminator judges (input, output) pairs with BatchNorm; here there is no pair to judge, and the
    norm is InstanceNorm, as in the paper."""

    def __init__(self, in_channels: int = 3, base_channels: int = 64, num_layers: int = 3):
        super().__init__()
        c = base_channels
        layers = [nn.Conv2d(in_channels, c, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # 3x128x128 -> 64x64x64
        for i in range(1, num_layers + 1):  # -> 128x32x32 -> 256x16x16 -> 512x15x15 (the last one stride 1)
            c_out = base_channels * min(2 ** i, 8)
            layers += [nn.Conv2d(c, c_out, 4, 2 if i < num_layers else 1, 1), nn.InstanceNorm2d(c_out),
                       nn.LeakyReLU(0.2, True)]
            c = c_out
        layers += [nn.Conv2d(c, 1, 4, 1, 1)]  # -> 1x14x14 for 128x128 (1x30x30 for 256x256)
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 3 x H x W -> N x 1 x (H/8 - 2) x (W/8 - 2) logits (LSGAN: real -> 1, fake -> 0)
        return self.net(images)


class CycleGANGenerator(GANModel):
    """Both generators of a CycleGAN: ``a2b`` (G) and ``b2a`` (F), each a ResnetGenerator config.

    ``tile_size``: the square the pipeline translates at a time (the networks take any multiple of 4; the gallery's
    run trains on 128x128 crops of the 286x286 data and evaluates whole 256x256 pictures, pix2pix's tile and scale).
    """

    @register_to_config
    def __init__(self, a2b: dict | None = None, b2a: dict | None = None, a_name: str = "A", b_name: str = "B",
                 tile_size: int = 256):
        super().__init__()
        configs = {"a2b": a2b if a2b is not None else {}, "b2a": b2a if b2a is not None else {}}
        if tile_size % 4:
            raise ValueError(f"tile_size must be a multiple of 4 (two stride-2 levels), got {tile_size}")
        self.a_name, self.b_name, self.tile_size = a_name, b_name, tile_size
        for d, cfg in configs.items():  # nested settings get the same checks as a config.json's own
            check_config(ResnetGenerator, cfg, f"the {d} generator's settings")
        self.nets = nn.ModuleDict({d: ResnetGenerator(**cfg) for d, cfg in configs.items()})

    @property
    def directions(self) -> list[str]:
        return list(self.nets)

    def forward(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return self.nets[direction](images)  # N x 3 x H x W -> N x 3 x H x W


class CycleGANDiscriminator(GANModel):
    """One PatchGAN per direction's output: ``a2b`` judges pictures of B (real, or made by the a2b generator), ``b2a``
    pictures of A; each a PatchGAN config."""

    @register_to_config
    def __init__(self, a2b: dict | None = None, b2a: dict | None = None):
        super().__init__()
        configs = {"a2b": a2b if a2b is not None else {}, "b2a": b2a if b2a is not None else {}}
        for d, cfg in configs.items():
            check_config(PatchGAN, cfg, f"the {d} PatchGAN's settings")
        self.nets = nn.ModuleDict({d: PatchGAN(**cfg) for d, cfg in configs.items()})

    def forward(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return self.nets[direction](images)  # N x 3 x H x W -> N x 1 x (H/8 - 2) x (W/8 - 2)

# ------------------------------------------------------------ from gan_models.maps.cycle_pipeline
"""CycleGAN's diffusers pipeline: the same calls as pix2pix's (pipeline.py), for a model trained without pairs.

``CycleGANPipeline.from_pretrained(folder)``; ``pipe(image, "a2b")`` translates an aerial photo into a map (tiles or
fit, as pix2pix); ``pipe.cycle(image, "a2b", noise=...)`` goes there and back and measures the reconstruction;
``pipe.hidden_signal(map)`` amplifies what a map carries beyond its flat colours. Both directions are always there
(the cycle needs them both).
"""




class CycleGANPipeline(Pix2PixPipeline):
    """PIL image + direction -> translated image, with CycleGAN's generators (cyclegan.py).

    The networks are fully convolutional; the pipeline feeds them ``generator.tile_size`` squares (256: pix2pix's
    tile and scale, so the two models see the same input alike), blended where they overlap. InstanceNorm normalises
    each tile by its own statistics, which the blending evens out. Nothing to fold: the networks run as they are.
    """

    component_classes = {"generator": CycleGANGenerator}
    remote_module = "cyclegan_maps"
    remote_modules = CORE_MODULES + ("gan_models.core.images", "gan_models.maps.drawing", "gan_models.maps.palette",
                                     "gan_models.maps.pix2pix", "gan_models.maps.pipeline", "gan_models.maps.cyclegan",
                                     "gan_models.maps.cycle_pipeline")

    def __init__(self, generator):  # a CycleGANGenerator
        super().__init__(generator)

    @property
    def tile_size(self) -> int:
        return self.generator.tile_size

    def _inference_nets(self) -> dict:
        return dict(self.generator.nets)
