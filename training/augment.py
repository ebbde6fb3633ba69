"""DiffAugment (Zhao et al. 2020): differentiable augmentation for GANs on small data.

The same random colour, translation and cutout are applied to real and fake images
every time D sees them, in D's step and in G's step; because the ops are
differentiable, G's gradient passes through them. D cannot memorise 15k faces, and
since G's output is augmented too, the augmentation does not leak into the samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout") -> torch.Tensor:
    """x: N x C x H x W in [-1, 1] -> same shape, augmented per image."""
    for op in filter(None, policy.split(",")):
        if op == "color":
            x = _color(x)
        elif op == "translation":
            x = _translation(x)
        elif op == "cutout":
            x = _cutout(x)
        else:
            raise ValueError(f"unknown DiffAugment op {op!r} (use color, translation, cutout)")
    return x


def _color(x):
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device) - 0.5)                              # brightness
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) * 2) + mean               # saturation
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) + 0.5) + mean              # contrast


def _translation(x, ratio: float = 0.125):
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = (gy[None] + ty + 1).clamp(0, h + 1)
    gx = (gx[None] + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # shifted-in pixels are zeros (mid-grey)
    idx = (gy * (w + 2) + gx).flatten(1)                                                     # N x HW
    flat = padded.flatten(2)                                                                  # N x C x (H+2)(W+2)
    return flat.gather(2, idx[:, None].expand(-1, x.shape[1], -1)).view_as(x)


def _cutout(x, ratio: float = 0.5):
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device) - ch // 2   # box may overhang the edge
    left = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device) - cw // 2
    gy = torch.arange(h, device=x.device).view(1, h, 1) - top
    gx = torch.arange(w, device=x.device).view(1, 1, w) - left
    inside = (gy >= 0) & (gy < ch) & (gx >= 0) & (gx < cw)                                    # N x H x W
    return x * (~inside)[:, None].to(x.dtype)
