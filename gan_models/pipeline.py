"""What every demo's pipeline shares: finding weights, checking user input, the output type.

A pipeline is called like a function, as in diffusers:
``pipe(num_images=4, seed=0).images`` or ``pipe(num_images=4, generator=torch.Generator().manual_seed(0))``.
Weights come from a local folder or a Hub repo (safetensors + config.json only).
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from .data import to_uint8
from .layers import MAX_SEED, WeightsError

ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.md"]  # never a pickle, never code


class InputError(ValueError):
    """A user's input the pipeline cannot take, with a message fit to show them."""


@dataclass
class GANOutput:
    images: list  # PIL images (output_type="pil") or one N x C x H x W tensor in [-1, 1] ("pt")
    seeds: list[int] | None = None
    labels: list | None = None
    messages: list[str] = field(default_factory=list)


def resolve_folder(source: str | os.PathLike, revision: str | None = None, local_files_only: bool = False) -> Path:
    """A local Hub-format folder for ``source``: a folder path, or a Hub repo id to download."""
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


# ----------------------------------------------------------------------------- input checks
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


def to_output(images: torch.Tensor, output_type: str) -> list | torch.Tensor:
    """N x C x H x W in [-1, 1] -> PIL images ("pil"), uint8 arrays ("np") or the tensor ("pt")."""
    if output_type == "pt":
        return images
    arrays = to_uint8(images.float().cpu()).permute(0, 2, 3, 1).numpy()
    if output_type == "np":
        return list(arrays)
    if output_type != "pil":
        raise InputError(f"output_type must be 'pil', 'np' or 'pt', got {output_type!r}")
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in arrays]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents: stays on the shell where N(0, I) samples live."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
