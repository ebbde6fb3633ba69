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

from __future__ import annotations

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

from .checks import WeightsError

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
