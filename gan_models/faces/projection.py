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

from __future__ import annotations

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

from ..core.checks import InputError
from ..core.images import as_rgb
from ..core.modeling import fuse_batchnorm

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
